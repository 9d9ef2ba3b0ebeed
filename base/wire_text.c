/* wire_text.c - owns the text checks protobuf-c does not make (see wire_text.h). */
#include "wire_text.h"

#include <stdio.h>
#include <string.h>

/* Our messages nest a few levels; a frame that goes deeper is not ours. */
#define WIRE_TEXT_DEPTH_MAX 32

enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LENGTH = 2, WIRE_FIXED32 = 5 };

/* s_varint reads a varint of P (LEN bytes) at *AT; false when it runs past
 * LEN or over ten bytes. */
static bool s_varint(const uint8_t *p, size_t len, size_t *at, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 70 && *at < len; shift += 7) {
        uint8_t b = p[(*at)++];
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* s_field reads one field of P (LEN bytes) at *AT: its number, wire type
 * and, for a length-delimited one, where its bytes are. False when P is
 * not well-formed there (groups included: protobuf-c refuses them). */
static bool s_field(const uint8_t *p, size_t len, size_t *at, uint32_t *number, const uint8_t **value,
                    size_t *value_len)
{
    uint64_t tag, n;
    if (!s_varint(p, len, at, &tag))
        return false;
    /* As protobuf-c reads it: a number past 32 bits is cut, and a
     * non-canonical 0 (0x80 0x00) is taken, as an unknown field. */
    *number = (uint32_t)(tag >> 3);
    *value = NULL;
    switch (tag & 7) {
    case WIRE_VARINT:
        return s_varint(p, len, at, &n);
    case WIRE_FIXED64:
        n = 8;
        break;
    case WIRE_FIXED32:
        n = 4;
        break;
    case WIRE_LENGTH:
        if (!s_varint(p, len, at, &n))
            return false;
        *value = p + *at;
        *value_len = (size_t)n;
        break;
    default:
        return false;
    }
    if (n > len - *at)
        return false;
    *at += (size_t)n;
    return true;
}

/* s_index: how many times field NUMBER occurs in P before offset END. */
static size_t s_index(const uint8_t *p, size_t end, uint32_t number)
{
    size_t at = 0, count = 0, value_len;
    uint32_t n;
    const uint8_t *value;
    while (at < end && s_field(p, end, &at, &n, &value, &value_len))
        count += n == number;
    return count - 1;  /* END is just past an occurrence of NUMBER */
}

/* s_cut ends the path in FIELD (LEN bytes) at AT, when that is inside it. */
static void s_cut(char *field, size_t len, size_t at)
{
    if (at < len)
        field[at] = '\0';
}

/* s_name appends F's name (and [INDEX] when repeated) to the path in FIELD
 * at *AT; a path that does not fit is cut, and *AT stays inside FIELD. */
static void s_name(char *field, size_t len, size_t *at, const ProtobufCFieldDescriptor *f,
                   size_t index)
{
    if (*at + 1 >= len)
        return;
    int n = f->label == PROTOBUF_C_LABEL_REPEATED
                ? snprintf(field + *at, len - *at, "%s%s[%zu]", *at ? "." : "", f->name, index)
                : snprintf(field + *at, len - *at, "%s%s", *at ? "." : "", f->name);
    *at = n < 0 || (size_t)n >= len - *at ? len - 1 : *at + (size_t)n;
}

static bool s_find_nul(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len,
                       char *field, size_t field_len, size_t path_at, int depth)
{
    if (depth > WIRE_TEXT_DEPTH_MAX)
        return false;
    size_t at = 0, value_len = 0;
    while (at < len) {
        uint32_t number;
        const uint8_t *value;
        if (!s_field(p, len, &at, &number, &value, &value_len))
            return false;
        const ProtobufCFieldDescriptor *f =
            value ? protobuf_c_message_descriptor_get_field(desc, (unsigned)number) : NULL;
        if (f == NULL)
            continue;
        bool text = f->type == PROTOBUF_C_TYPE_STRING && memchr(value, '\0', value_len);
        bool inner = f->type == PROTOBUF_C_TYPE_MESSAGE;
        if (!text && !inner)
            continue;
        size_t name_at = path_at;
        s_cut(field, field_len, name_at);
        s_name(field, field_len, &name_at,
               f, f->label == PROTOBUF_C_LABEL_REPEATED ? s_index(p, at, number) : 0);
        if (text || s_find_nul(f->descriptor, value, value_len, field, field_len, name_at,
                               depth + 1))
            return true;
    }
    s_cut(field, field_len, path_at);
    return false;
}

bool wire_text_find_nul(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                        char *field, size_t field_len)
{
    s_cut(field, field_len, 0);
    return s_find_nul(desc, data, len, field, field_len, 0, 0);
}

/* s_char: the length (1..4) of the UTF-8 character at P (LEN bytes left),
 * 0 when P starts none. */
static size_t s_char(const unsigned char *p, size_t len)
{
    unsigned char c = p[0];
    size_t extra;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        extra = 1; cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        extra = 2; cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        extra = 3; cp = c & 0x07;
    } else {
        return 0;
    }
    if (extra > len - 1)
        return 0;
    for (size_t k = 1; k <= extra; k++) {
        if ((p[k] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[k] & 0x3f);
    }
    static const uint32_t min_cp[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return extra + 1;
}

bool wire_text_utf8(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0, n; i < len; i += n)
        if ((n = s_char(p + i, len - i)) == 0)
            return false;
    return true;
}

size_t wire_text_repair(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t len = strlen(s), replaced = 0;
    for (size_t i = 0, n; i < len; i += n)
        if ((n = s_char(p + i, len - i)) == 0) {
            p[i] = '?';
            n = 1;
            replaced++;
        }
    return replaced;
}

static bool s_find_invalid(const ProtobufCMessage *m, char *field, size_t field_len,
                           size_t path_at, int depth)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    if (depth > WIRE_TEXT_DEPTH_MAX)
        return false;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const char *base = (const char *)m;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(const void *)(base + f->quantifier_offset) != f->id)
            continue;
        size_t n = 1;
        const void *const *items = (const void *const *)(const void *)(base + f->offset);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)(const void *)(base + f->quantifier_offset);
            items = *(const void *const *const *)(const void *)(base + f->offset);
        }
        for (size_t k = 0; k < n; k++) {
            if (items[k] == NULL)
                continue;
            size_t name_at = path_at;
            bool bad;
            s_cut(field, field_len, name_at);
            s_name(field, field_len, &name_at, f, k);
            if (f->type == PROTOBUF_C_TYPE_STRING)
                bad = !wire_text_utf8(items[k], strlen(items[k]));
            else
                bad = s_find_invalid(items[k], field, field_len, name_at, depth + 1);
            if (bad)
                return true;
        }
    }
    s_cut(field, field_len, path_at);
    return false;
}

bool wire_text_find_invalid(const ProtobufCMessage *m, char *field, size_t field_len)
{
    s_cut(field, field_len, 0);
    return s_find_invalid(m, field, field_len, 0, 0);
}
