/*
 * bench/lib/maxrss.c - run a command and report its peak RSS.
 *
 *   maxrss OUTFILE CMD [ARGS...]
 *
 * Runs CMD, writes its ru_maxrss (KiB, from wait4) to OUTFILE as one number,
 * and exits with CMD's status (128 + signal when it was killed). Built static
 * by bench/boot.sh for level 1 of the rig: busybox's `time -v` there reports
 * "Maximum resident set size (kbytes)" four times too large (it converts
 * ru_maxrss, already in KiB, as if it counted 4 KiB pages).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct rusage ru;
	int status;
	pid_t pid;
	FILE *f;

	if (argc < 3) {
		fprintf(stderr, "usage: maxrss OUTFILE CMD [ARGS...]\n");
		return 2;
	}
	pid = fork();
	if (pid < 0) {
		perror("maxrss: fork");
		return 1;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		perror("maxrss: exec");
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("maxrss: wait4");
		return 1;
	}
	f = fopen(argv[1], "w");
	if (!f || fprintf(f, "%ld\n", ru.ru_maxrss) < 0 || fclose(f)) {
		perror("maxrss: OUTFILE");
		return 1;
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
