// SPDX-License-Identifier: MIT
/*
 * Writes the bash or zsh completion of ssserver, sslocal or ssmanager to
 * stdout, from the one option table (as mkman writes the man pages).
 */
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "config.h"
#include "options.h"

static const char *const progs[] = { "ssserver", "sslocal", "ssmanager" };

/* The rows this program's --help lists. */
static bool listed(const struct option_desc *o, enum prog_kind prog)
{
	return options_help(o) && (options_long(o) || options_short(o)) && options_for(o, prog);
}

/* A value that names a file or folder (completed from the file system). */
static bool takes_path(const struct option_desc *o)
{
	static const char *const paths[] = { "FILE", "PATH", "DIR", "PROGRAM", "FILE|off", "PATH|off" };
	const char *a = options_arg(o);

	for (size_t i = 0; a && i < ARRAY_SIZE(paths); i++)
		if (!strcmp(a, paths[i]))
			return true;
	return false;
}

/* "-x|--long" for a case pattern (join "|"), "-x --long" for a word list (join " "). */
static void bash_flags(const struct option_desc *o, const char *sep, const char *join)
{
	if (options_short(o))
		printf("%s-%c", sep, options_short(o));
	if (options_long(o))
		printf("%s--%s", options_short(o) ? join : sep, options_long(o));
}

static void bash(enum prog_kind prog)
{
	const char *name = progs[prog];

	printf("# bash completion for %s (generated from ssbpf's option table)\n", name);
	printf("_ssbpf_%s()\n{\n\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
	       "\tcase $prev in\n\t-c", name);
	for (size_t i = 0; i < options_count(); i++)
		if (listed(options_at(i), prog) && takes_path(options_at(i)))
			bash_flags(options_at(i), "|", "|");
	puts(")\n\t\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n\t\treturn ;;");
	for (size_t i = 0; i < options_count(); i++) {
		const struct option_desc *o = options_at(i);
		const char *a = options_arg(o);

		if (!listed(o, prog) || !a || !strchr(a, '|') || takes_path(o))
			continue;
		bash_flags(o, "\t", "|");
		printf(")\n\t\tCOMPREPLY=($(compgen -W \"");
		for (; *a; a++)
			putchar(*a == '|' ? ' ' : *a);
		puts("\" -- \"$cur\"))\n\t\treturn ;;");
	}
	printf("\tesac\n\tCOMPREPLY=($(compgen -W \"-c -h --help -V --version");
	for (size_t i = 0; i < options_count(); i++)
		if (listed(options_at(i), prog))
			bash_flags(options_at(i), " ", " ");
	printf("\" -- \"$cur\"))\n}\ncomplete -F _ssbpf_%s %s\n", name, name);
}

/* A help line inside zsh's '...[text]' spec: no quotes, brackets or colons. */
static void zsh_text(const char *s)
{
	for (int n = 0; *s && *s != '.' && n < 70; s++, n++)
		putchar(*s == '\'' ? '`' : *s == '[' ? '(' : *s == ']' ? ')' : *s == ':' ? ' ' : *s);
}

static void zsh(enum prog_kind prog)
{
	printf("#compdef %s\n# zsh completion for %s (generated from ssbpf's option table)\n"
	       "_arguments -s \\\n  '-c[a JSON config file]:file:_files' \\\n"
	       "  '(- *)'{-h,--help}'[print the options]' \\\n"
	       "  '(- *)'{-V,--version}'[print the version]' \\\n", progs[prog], progs[prog]);
	for (size_t i = 0; i < options_count(); i++) {
		const struct option_desc *o = options_at(i);

		if (!listed(o, prog))
			continue;
		if (options_short(o) && options_long(o))
			printf("  '(-%c --%s)'{-%c,--%s}'[", options_short(o), options_long(o),
			       options_short(o), options_long(o));
		else if (options_short(o))
			printf("  '-%c[", options_short(o));
		else
			printf("  '--%s[", options_long(o));
		zsh_text(options_help(o));
		putchar(']');
		if (options_arg(o) && options_flag_has_arg(o))
			printf(":%s:%s", options_arg(o), takes_path(o) ? "_files" : "");
		puts("' \\");
	}
	puts("  && return 0");
}

int main(int argc, char **argv)
{
	for (int p = PROG_SERVER; argc == 3 && p <= PROG_MANAGER; p++) {
		if (strcmp(argv[2], progs[p]))
			continue;
		if (!strcmp(argv[1], "bash"))
			bash((enum prog_kind)p);
		else if (!strcmp(argv[1], "zsh"))
			zsh((enum prog_kind)p);
		else
			break;
		return 0;
	}
	fputs("usage: mkcomp bash|zsh ssserver|sslocal|ssmanager\n", stderr);
	return 2;
}
