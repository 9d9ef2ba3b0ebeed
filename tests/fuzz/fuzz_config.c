/* fuzz_config.c - libFuzzer target for the config loader: config_load on a
 * file, then config_destroy, as --check-config and SIGHUP do. The input is
 * split at the first line "#--- inc.conf" into the main file and a file
 * "inc.conf" beside it, so a main file that says @include "inc.conf" fuzzes
 * include handling too. Both files live in a private temp directory. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MARKER "#--- inc.conf\n"

static char s_dir[PATH_MAX];
static char s_main[PATH_MAX + 16];
static char s_inc[PATH_MAX + 16];

static void s_cleanup(void)
{
    unlink(s_main);
    unlink(s_inc);
    rmdir(s_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(s_dir, sizeof s_dir, "%s/sluice-fuzz-config.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(s_dir)) {
        fprintf(stderr, "fuzz_config: failed to create %s: %s\n", s_dir, strerror(errno));
        exit(1);
    }
    snprintf(s_main, sizeof s_main, "%s/sluice.conf", s_dir);
    snprintf(s_inc, sizeof s_inc, "%s/inc.conf", s_dir);
    atexit(s_cleanup);
    return 0;
}

static void s_write(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        fprintf(stderr, "fuzz_config: failed to write %s: %s\n", path, strerror(errno));
        abort();
    }
}

/* s_include_escapes: true when an @include could name a file outside the
 * temp directory ("/dev/zero", "../x", or a backslash escape for either).
 * libconfig opens what it is told to, so such inputs would test the host's
 * files, not our parser; they are skipped. */
static int s_include_escapes(const uint8_t *data, size_t size)
{
    static const char word[] = "@include";
    const size_t wl = sizeof word - 1;
    for (size_t i = 0; i + wl <= size; i++) {
        if (memcmp(data + i, word, wl) != 0)
            continue;
        int quotes = 0;
        for (size_t j = i + wl; j < size && quotes < 2; j++) {
            if (data[j] == '"')
                quotes++;
            else if (data[j] == '/' || data[j] == '\\')
                return 1;
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (s_include_escapes(data, size))
        return -1;  /* libFuzzer: do not add to the corpus */
    const uint8_t *cut = memmem(data, size, MARKER, sizeof MARKER - 1);
    size_t main_len = cut ? (size_t)(cut - data) : size;
    s_write(s_main, data, main_len);
    if (cut)
        s_write(s_inc, cut + sizeof MARKER - 1, size - main_len - (sizeof MARKER - 1));
    else
        unlink(s_inc);

    char *errors = NULL;
    config_t *cfg = config_load(s_main, &errors);
    if (!cfg && (!errors || !errors[0])) {
        fprintf(stderr, "fuzz_config: refused without saying why\n");
        abort();
    }
    if (cfg && errors) {
        fprintf(stderr, "fuzz_config: loaded and still reported errors\n");
        abort();
    }
    config_destroy(&cfg);
    if (cfg) {
        fprintf(stderr, "fuzz_config: config_destroy left the pointer set\n");
        abort();
    }
    free(errors);
    return 0;
}
