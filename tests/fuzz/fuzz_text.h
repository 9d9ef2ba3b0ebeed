/* fuzz_text.h - what the fuzz targets check of the text in a message, made
 * apart from base/wire_text.c on purpose:
 * - fuzz_text_cut: did unpacking cut a `string` field at a NUL byte? The
 *   frame is unpacked again with an allocator that remembers the size of
 *   every block; protobuf-c gives a string of N bytes on the wire a block
 *   of N + 1, so a string whose strlen is shorter was cut;
 * - fuzz_text_utf8: strict UTF-8, by its own decoder;
 * - fuzz_text_bad_string: the path of a `string` field of an unpacked
 *   message that is not UTF-8 (or was cut), NULL when none.
 * Header-only: each target is one translation unit; one thread. */
#ifndef SLUICE_FUZZ_TEXT_H
#define SLUICE_FUZZ_TEXT_H

#include <protobuf-c/protobuf-c.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fuzz_block {
    void *p;
    size_t size;
} fuzz_block_t;

static fuzz_block_t *fuzz_blocks;
static size_t fuzz_block_count, fuzz_block_cap;

static inline void *fuzz_alloc(void *data, size_t size)
{
    (void)data;
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        return NULL;
    if (fuzz_block_count == fuzz_block_cap) {
        size_t cap = fuzz_block_cap ? fuzz_block_cap * 2 : 256;
        fuzz_block_t *grown = realloc(fuzz_blocks, cap * sizeof *grown);
        if (grown == NULL) {
            free(p);
            return NULL;
        }
        fuzz_blocks = grown;
        fuzz_block_cap = cap;
    }
    fuzz_blocks[fuzz_block_count++] = (fuzz_block_t){ p, size };
    return p;
}

static inline void fuzz_free(void *data, void *p)
{
    (void)data;
    for (size_t i = fuzz_block_count; i-- > 0;)
        if (fuzz_blocks[i].p == p) {
            fuzz_blocks[i] = fuzz_blocks[--fuzz_block_count];
            break;
        }
    free(p);
}

static ProtobufCAllocator fuzz_allocator = { fuzz_alloc, fuzz_free, NULL };

/* fuzz_block_size: the size of the block S was unpacked into; 0 when S is
 * not one (the empty default string). */
static inline size_t fuzz_block_size(const void *s)
{
    for (size_t i = 0; i < fuzz_block_count; i++)
        if (fuzz_blocks[i].p == s)
            return fuzz_blocks[i].size;
    return 0;
}

/* fuzz_text_utf8: S is UTF-8 without overlong forms, surrogates or code
 * points past U+10FFFF. */
static inline bool fuzz_text_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t cp;
        int extra;
        if (*p < 0x80) {
            p++;
            continue;
        } else if (*p >= 0xc2 && *p <= 0xdf) {
            cp = *p & 0x1f;
            extra = 1;
        } else if (*p >= 0xe0 && *p <= 0xef) {
            cp = *p & 0x0f;
            extra = 2;
        } else if (*p >= 0xf0 && *p <= 0xf4) {
            cp = *p & 0x07;
            extra = 3;
        } else {
            return false;
        }
        p++;
        for (int i = 0; i < extra; i++, p++) {
            if ((*p & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (*p & 0x3f);
        }
        if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
    }
    return true;
}

/* fuzz_text_walk looks at every `string` field of M: CUT (unpacked with
 * fuzz_allocator) finds one cut at a NUL byte, else one that is not UTF-8.
 * Returns its field name, or NULL. */
static inline const char *fuzz_text_walk(const ProtobufCMessage *m, bool cut)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m;
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(const void *)(base + f->quantifier_offset) != f->id)
            continue;
        size_t n = 1;
        void *const *items = (void *const *)(const void *)(base + f->offset);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)(const void *)(base + f->quantifier_offset);
            items = *(void *const *const *)(const void *)(base + f->offset);
        }
        for (size_t k = 0; k < n; k++) {
            if (items[k] == NULL)
                continue;
            if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
                const char *bad = fuzz_text_walk(items[k], cut);
                if (bad != NULL)
                    return bad;
                continue;
            }
            const char *s = items[k];
            size_t block = fuzz_block_size(s);
            if (cut ? block != 0 && strlen(s) + 1 != block : !fuzz_text_utf8(s))
                return f->name;
        }
    }
    return NULL;
}

/* fuzz_text_cut unpacks DATA (SIZE bytes) as DESC with fuzz_allocator and
 * returns the name of a `string` field that unpacking cut at a NUL byte,
 * or NULL (also when DATA is not such a message). */
static inline const char *fuzz_text_cut(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                        size_t size)
{
    fuzz_block_count = 0;
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &fuzz_allocator, size, data);
    if (m == NULL)
        return NULL;
    const char *cut = fuzz_text_walk(m, true);
    protobuf_c_message_free_unpacked(m, &fuzz_allocator);
    return cut;
}

/* fuzz_text_bad_string: the name of a `string` field of M that is not UTF-8,
 * or NULL. */
static inline const char *fuzz_text_bad_string(const ProtobufCMessage *m)
{
    fuzz_block_count = 0;
    return fuzz_text_walk(m, false);
}

#endif
