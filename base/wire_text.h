/* wire_text.h - owns what protobuf-c does not check in the text of a
 * message. A proto3 `string` may carry a NUL byte on the wire, and
 * protobuf-c hands it over as a C string that stops there: the value read is
 * shorter than the one sent ("A\0first" is read as "A"), so every socket
 * that reads protobuf from outside looks at the packed bytes first. And a
 * `string` must be UTF-8: standard protobuf runtimes refuse a whole message
 * that is not (Python raises), so every reply is looked at before it leaves.
 * Both walk the message's descriptor; no allocation. */
#ifndef SLUICE_WIRE_TEXT_H
#define SLUICE_WIRE_TEXT_H

#include <protobuf-c/protobuf-c.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* wire_text_find_nul reads DATA (LEN bytes) as a packed message of type
 * DESC, and every message inside it. True when a `string` field holds a NUL
 * byte: FIELD (FIELD_LEN bytes) gets its path, "submit.items[2].sku" (a
 * repeated field's index counts its occurrences on the wire, as unpacking
 * does). False when none does, or when DATA is not well-formed protobuf
 * (which protobuf-c refuses to unpack anyway). Fields DESC does not know
 * are not looked into: nothing reads them. */
bool wire_text_find_nul(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                        char *field, size_t field_len) __attribute__((warn_unused_result));

/* wire_text_utf8: S (LEN bytes) is UTF-8: no stray or cut sequence, no
 * overlong form, surrogate or code point past U+10FFFF. */
bool wire_text_utf8(const char *s, size_t len);

/* wire_text_repair makes S UTF-8 in place: each byte that does not belong to
 * a character (a stray or cut sequence, an overlong form, a surrogate) is
 * replaced by '?'. For text that is ours to word but may quote what it was
 * given, or may have been cut at a buffer's end. Returns how many bytes it
 * replaced. */
size_t wire_text_repair(char *s);

/* wire_text_find_invalid walks the unpacked (or about to be packed) message
 * M: true when a `string` field is not UTF-8, with its path in FIELD as
 * above. NULL strings and messages are empty. */
bool wire_text_find_invalid(const ProtobufCMessage *m, char *field, size_t field_len)
    __attribute__((warn_unused_result));

#endif
