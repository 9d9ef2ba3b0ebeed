/* ctl_json.c - owns sluicectl's JSON output (see ctl_json.h). */
#include "ctl_json.h"

#include <math.h>
#include <string.h>

void ctl_json_init(ctl_json_t *j, FILE *out)
{
    *j = (ctl_json_t){ .out = out };
}

void ctl_json_escape(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\b': fputs("\\b", out); break;
        case '\f': fputs("\\f", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

/* s_value_begin writes the comma that separates this value from the one
 * before it in the same container (a value after a key needs none). */
static void s_value_begin(ctl_json_t *j)
{
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (j->depth > 0 && j->depth <= CTL_JSON_MAX_DEPTH) {
        if (j->need_comma[j->depth - 1])
            fputc(',', j->out);
        j->need_comma[j->depth - 1] = true;
    }
}

static void s_open(ctl_json_t *j, char c)
{
    s_value_begin(j);
    fputc(c, j->out);
    if (j->depth < CTL_JSON_MAX_DEPTH)
        j->need_comma[j->depth] = false;
    j->depth++;
}

static void s_close(ctl_json_t *j, char c)
{
    fputc(c, j->out);
    if (j->depth > 0)
        j->depth--;
    if (j->depth == 0)
        fputc('\n', j->out);
}

void ctl_json_begin_object(ctl_json_t *j)
{
    s_open(j, '{');
}

void ctl_json_end_object(ctl_json_t *j)
{
    s_close(j, '}');
}

void ctl_json_begin_array(ctl_json_t *j)
{
    s_open(j, '[');
}

void ctl_json_end_array(ctl_json_t *j)
{
    s_close(j, ']');
}

void ctl_json_key(ctl_json_t *j, const char *key)
{
    s_value_begin(j);
    ctl_json_escape(j->out, key);
    fputc(':', j->out);
    j->after_key = true;
}

void ctl_json_string(ctl_json_t *j, const char *s)
{
    s_value_begin(j);
    if (s == NULL)
        fputs("null", j->out);
    else
        ctl_json_escape(j->out, s);
}

void ctl_json_int(ctl_json_t *j, long long v)
{
    s_value_begin(j);
    fprintf(j->out, "%lld", v);
}

void ctl_json_uint(ctl_json_t *j, unsigned long long v)
{
    s_value_begin(j);
    fprintf(j->out, "%llu", v);
}

void ctl_json_double(ctl_json_t *j, double v)
{
    if (!isfinite(v)) {
        ctl_json_null(j);
        return;
    }
    s_value_begin(j);
    fprintf(j->out, "%.6g", v);
}

void ctl_json_bool(ctl_json_t *j, bool v)
{
    s_value_begin(j);
    fputs(v ? "true" : "false", j->out);
}

void ctl_json_null(ctl_json_t *j)
{
    s_value_begin(j);
    fputs("null", j->out);
}

void ctl_json_raw(ctl_json_t *j, const char *json)
{
    s_value_begin(j);
    fputs(json != NULL ? json : "null", j->out);
}

/* s_base64 writes DATA as a JSON string in base64, as the proto3 JSON
 * mapping has bytes. */
static void s_base64(ctl_json_t *j, const ProtobufCBinaryData *data)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    s_value_begin(j);
    fputc('"', j->out);
    for (size_t i = 0; i < data->len; i += 3) {
        uint32_t v = (uint32_t)data->data[i] << 16;
        if (i + 1 < data->len)
            v |= (uint32_t)data->data[i + 1] << 8;
        if (i + 2 < data->len)
            v |= data->data[i + 2];
        fputc(abc[v >> 18 & 63], j->out);
        fputc(abc[v >> 12 & 63], j->out);
        fputc(i + 1 < data->len ? abc[v >> 6 & 63] : '=', j->out);
        fputc(i + 2 < data->len ? abc[v & 63] : '=', j->out);
    }
    fputc('"', j->out);
}

/* s_scalar writes the value at P, of field F's type. */
static void s_scalar(ctl_json_t *j, const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        ctl_json_int(j, *(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        ctl_json_uint(j, *(const uint32_t *)p);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        ctl_json_int(j, (long long)*(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        ctl_json_uint(j, (unsigned long long)*(const uint64_t *)p);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        ctl_json_double(j, *(const float *)p);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        ctl_json_double(j, *(const double *)p);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        ctl_json_bool(j, *(const protobuf_c_boolean *)p);
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
        if (v != NULL)
            ctl_json_string(j, v->name);
        else
            ctl_json_int(j, *(const int *)p);   /* a value newer than our descriptor */
        break;
    }
    case PROTOBUF_C_TYPE_STRING:
        ctl_json_string(j, *(char *const *)p);
        break;
    case PROTOBUF_C_TYPE_BYTES:
        s_base64(j, p);
        break;
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
        if (m != NULL)
            ctl_json_message(j, m);
        else
            ctl_json_null(j);
        break;
    }
    }
}

/* s_size: bytes one element of field F's type takes in the message. */
static size_t s_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return sizeof(uint64_t);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return sizeof(uint32_t);   /* the 32-bit integers and float */
    }
}

/* s_field writes field F of M under KEY, unless it is a oneof member that
 * is not the one set. */
static void s_field(ctl_json_t *j, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                    const char *key)
{
    const char *base = (const char *)m;
    if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        *(const uint32_t *)(base + f->quantifier_offset) != f->id)
        return;
    ctl_json_key(j, key);
    if (f->label != PROTOBUF_C_LABEL_REPEATED) {
        s_scalar(j, f, base + f->offset);
        return;
    }
    size_t n = *(const size_t *)(base + f->quantifier_offset);
    const char *v = *(const char *const *)(base + f->offset);
    ctl_json_begin_array(j);
    for (size_t i = 0; i < n; i++)
        s_scalar(j, f, v + i * s_size(f));
    ctl_json_end_array(j);
}

void ctl_json_message(ctl_json_t *j, const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    ctl_json_begin_object(j);
    for (unsigned i = 0; i < d->n_fields; i++)
        s_field(j, m, &d->fields[i], d->fields[i].name);
    ctl_json_end_object(j);
}

void ctl_json_fields(ctl_json_t *j, const ProtobufCMessage *m, const ctl_json_field_t *fields,
                     size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(m->descriptor, fields[i].name);
        const char *key = fields[i].key != NULL ? fields[i].key : fields[i].name;
        if (f != NULL) {
            s_field(j, m, f, key);
        } else {
            ctl_json_key(j, key);
            ctl_json_null(j);
        }
    }
}
