#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make run: ssserver on 127.0.0.1:8388 and sslocal (SOCKS5) on 127.0.0.1:1080
# with a fresh password, plus a small demo web server on 127.0.0.1:8080 to try
# them on. Prints the ss:// URI and a curl line; Ctrl-C stops everything.
# Ports can be changed with SSBPF_SERVER_PORT, SSBPF_LOCAL_PORT, SSBPF_WEB_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."

server_port=${SSBPF_SERVER_PORT:-8388}
local_port=${SSBPF_LOCAL_PORT:-1080}
web_port=${SSBPF_WEB_PORT:-8080}
method=chacha20-ietf-poly1305
password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
logdir=$(mktemp -d /tmp/ssbpf-run.XXXXXX)

for p in "$server_port" "$local_port" "$web_port"; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		echo "make run: port $p on 127.0.0.1 is already in use; stop what uses it or set" \
			"SSBPF_SERVER_PORT / SSBPF_LOCAL_PORT / SSBPF_WEB_PORT" >&2
		exit 1
	fi
done

pids=()
cleanup() {
	trap - INT TERM EXIT
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	echo "make run: stopped (logs in $logdir)"
}
trap cleanup INT TERM EXIT

# --allow-private: the demo target is on loopback, which ssserver refuses by default.
build/ssserver -s 127.0.0.1 -p "$server_port" -k "$password" -m "$method" --allow-private \
	>"$logdir/ssserver.log" 2>&1 &
pids+=($!)
build/sslocal -s 127.0.0.1 -p "$server_port" -b 127.0.0.1 -l "$local_port" \
	-k "$password" -m "$method" >"$logdir/sslocal.log" 2>&1 &
pids+=($!)
python3 -m http.server "$web_port" --bind 127.0.0.1 --directory "$PWD" \
	>"$logdir/web.log" 2>&1 &
pids+=($!)

for p in "$server_port" "$local_port" "$web_port"; do
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break
		sleep 0.05
	done
done
for pid in "${pids[@]}"; do
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "make run: a process failed to start; logs:" >&2
		tail -n 5 "$logdir"/*.log >&2
		exit 1
	fi
done

userinfo=$(printf '%s:%s' "$method" "$password" | base64 -w0 | tr '+/' '-_' | tr -d '=')
cat <<EOT
ssbpf is running (logs in $logdir):
  ssserver  127.0.0.1:$server_port  ($method)
  sslocal   127.0.0.1:$local_port   (SOCKS5)

Server URI (SIP002), for sslocal --server-url or any shadowsocks client
(also \`build/ssctl -p $server_port url --qr\`):
  ss://$userinfo@127.0.0.1:$server_port#ssbpf
$(build/ssctl qr "ss://$userinfo@127.0.0.1:$server_port#ssbpf" 2>/dev/null || true)

Try it (fetches this README through sslocal -> ssserver -> a demo web server):
  curl --socks5-hostname 127.0.0.1:$local_port http://127.0.0.1:$web_port/README.md

Press Ctrl-C to stop.
EOT
wait -n "${pids[@]}" || true
echo "make run: a process exited; see $logdir" >&2
