/* config_docs.c - owns the key table as documentation: `sluiced
 * --config-keys` (the table the manual lists: key, type, default,
 * range, meaning, whether a reload applies it) and the key paths for tools
 * that check the docs against it. The table itself is config_keys.c's. */
#include "config_internal.h"
#include "adapter.h"

#include <stdio.h>
#include <string.h>

static void s_range_text(const struct key_row *row, char *buf, size_t size)
{
    switch (row->kind) {
    case K_INT:
    case K_ID:
        snprintf(buf, size, "%.0f..%.0f", row->min, row->max);
        break;
    case K_DOUBLE:
        snprintf(buf, size, "%g..%g", row->min, row->max);
        break;
    case K_STRING:
        snprintf(buf, size, "%.0f..%.0f characters", row->min, row->max);
        break;
    case K_ADAPTER:
        buf[0] = '\0';
        for (size_t i = 0; i < adapter_count(); i++)
            snprintf(buf + strlen(buf), size - strlen(buf), "%s`\"%s\"`", i ? ", " : "",
                     adapter_name(i));
        break;
    case K_BRAND:
        snprintf(buf, size, "a name in brands, or `\"\"`");
        break;
    case K_HOURS:
        snprintf(buf, size, "`\"HH:MM-HH:MM\"`, open != close");
        break;
    case K_CLOCK:
        snprintf(buf, size, "%02d:%02d..%02d:%02d", (int)row->min / 60, (int)row->min % 60,
                 (int)row->max / 60, (int)row->max % 60);
        break;
    case K_LOCATION:
        snprintf(buf, size, "lat -90..90, lng -180..180");
        break;
    case K_TIMEZONE:
        snprintf(buf, size, "a file under " ZONEINFO_DIR);
        break;
    case K_PLATFORMS:
        snprintf(buf, size, "names in platforms, no repeats, at most %.0f", row->max);
        break;
    case K_STAFFING:
        snprintf(buf, size, "at most %.0f windows, not overlapping", row->max);
        break;
    case K_INSTANT:
        snprintf(buf, size, "ISO 8601 with its offset, or `\"\"`");
        break;
    case K_CAMPAIGN:
        snprintf(buf, size, "a name in campaigns");
        break;
    case K_CAMPAIGNS:
        snprintf(buf, size, "at most %.0f, each campaign once", row->max);
        break;
    case K_SHARD:
        snprintf(buf, size, "a name in shards, or `\"\"`");
        break;
    case K_ENDPOINTS:
        snprintf(buf, size, "%.0f..%.0f endpoints", row->min, row->max);
        break;
    case K_BOOL:
        snprintf(buf, size, "true, false");
        break;
    case K_COUNT:
        buf[0] = '\0';
        break;
    }
}

void config_print_keys(FILE *out)
{
    fputs("| key | type | default | range | meaning | apply |\n", out);
    fputs("| --- | --- | --- | --- | --- | --- |\n", out);
    for (size_t sid = 0; sid < S_COUNT; sid++)
        for (size_t i = 0; i < config_scopes[sid].row_count; i++) {
            const struct key_row *row = &config_scopes[sid].rows[i];
            char range[160];
            s_range_text(row, range, sizeof range);
            fprintf(out, "| `%s` | %s | %s%s%s | %s | %s | %s |\n", row->path,
                    config_kinds[row->kind].type, row->def ? "`" : "",
                    row->def ? row->def : "required", row->def ? "`" : "", range, row->doc,
                    row->apply == APPLY_RESTART ? "restart" : "live");
        }
}

size_t config_key_count(void)
{
    size_t n = 0;
    for (size_t sid = 0; sid < S_COUNT; sid++)
        n += config_scopes[sid].row_count;
    return n;
}

const char *config_key_path(size_t i)
{
    for (size_t sid = 0; sid < S_COUNT; sid++) {
        if (i < config_scopes[sid].row_count)
            return config_scopes[sid].rows[i].path;
        i -= config_scopes[sid].row_count;
    }
    return NULL;
}
