/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel-vmm's state stream (docs/vm-snapshots.md): the device and vCPU state of a paused VM in a
 * versioned format of our own. All integers are little-endian.
 *
 *   header   "KAPSLVMS" (8 bytes), u32 format version, u32 flags (none defined: must be 0)
 *   section  u32 id, u32 instance, u32 version, u32 length, then `length` bytes of payload
 *   ...
 *   trailer  a section with id STATE_SEC_END, instance 0, version 1, length 4, whose payload is
 *            the CRC-32C of every byte before it (header, sections, the trailer's own header)
 *
 * The reader trusts nothing: the whole stream is bounded (STATE_MAX_STREAM), every length is
 * checked against what is left and against STATE_MAX_SECTION before it is used, sections are
 * counted (STATE_MAX_SECTIONS), an (id, instance) pair appears once, and the checksum must match
 * before any payload is handed out. Payloads are decoded by field tables (StateField): each field a
 * 1, 2, 4 or 8 byte integer or an array of them, so a payload has exactly one valid length. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define STATE_MAGIC "KAPSLVMS"
#define STATE_MAGIC_LEN 8
#define STATE_FORMAT_VERSION 1
#define STATE_HEADER_LEN 16
#define STATE_SECTION_HEADER_LEN 16

#define STATE_MAX_STREAM (64u << 20)    /* the whole device + vCPU stream (memory is its own file) */
#define STATE_MAX_SECTION (1u << 20)    /* one section's payload */
#define STATE_MAX_SECTIONS 4096

/* Section ids: one per kind of state. Numbers never change meaning; a new layout of the same state
 * is a new section version. */
typedef enum StateSectionId {
        STATE_SEC_VM = 1,               /* memory size, vCPU count, device list digest */
        STATE_SEC_SERIAL = 0x10,
        STATE_SEC_I8042 = 0x11,
        STATE_SEC_RTC = 0x12,
        STATE_SEC_PCI_BUS = 0x20,
        STATE_SEC_PCI_DEV = 0x21,       /* instance: PCI slot */
        STATE_SEC_VIRTIO = 0x30,        /* transport; instance: PCI slot */
        STATE_SEC_VIRTIO_QUEUE = 0x31,  /* instance: slot << 8 | queue */
        STATE_SEC_VIRTIO_MODEL = 0x32,  /* the device model's own state; instance: PCI slot */
        STATE_SEC_VCPU = 0x40,          /* instance: vCPU index (KVM state, arch/x86_64) */
        STATE_SEC_IRQCHIP = 0x50,
        STATE_SEC_PIT = 0x51,
        STATE_SEC_CLOCK = 0x52,
        STATE_SEC_END = 0xffffffffu,
} StateSectionId;

/* CRC-32C (Castagnoli, reflected, polynomial 0x82F63B78): crc32c(0, ...) starts a new sum, pass
 * the previous result to continue it. */
uint32_t state_crc32c(uint32_t crc, const void *data, size_t len);

/* ---- writer: the stream is built in memory, then written out in one piece ---- */

typedef struct StateWriter {
        uint8_t *buf;
        size_t len, cap;
        unsigned sections;
        int error;              /* first failure (-ENOMEM, -EFBIG), sticky */
} StateWriter;

void state_writer_init(StateWriter *w);
void state_writer_done(StateWriter *w);
/* Append a section. Failures are sticky and reported by state_writer_finish(). */
void state_writer_section(StateWriter *w, uint32_t id, uint32_t instance, uint32_t version, const void *data,
                          size_t len);
/* Append the trailer. On success *ret_buf and *ret_len describe the stream inside the writer (valid until _done). */
int state_writer_finish(StateWriter *w, const uint8_t **ret_buf, size_t *ret_len, KError **err);

/* ---- reader ---- */

typedef struct StateSection {
        uint32_t id, instance, version, len;
        const uint8_t *data;
        bool used;              /* a loader consumed it (leftovers are reported) */
} StateSection;

typedef struct StateReader {
        StateSection *sections;
        size_t n, cap;
} StateReader;

/* Check the whole stream (magic, format version, flags, every section header and length, unique
 * (id, instance) pairs, the trailer and its checksum) and index its sections. `buf` must outlive
 * the reader. */
int state_reader_parse(StateReader *r, const uint8_t *buf, size_t len, KError **err);
void state_reader_done(StateReader *r);
/* The section (id, instance), marked used, or NULL. */
StateSection *state_reader_find(StateReader *r, uint32_t id, uint32_t instance);
/* The first section no loader consumed, or NULL: a stream with state nobody restored is refused. */
const StateSection *state_reader_unused(const StateReader *r);

/* ---- fixed layouts of plain structs ---- */

typedef struct StateField {
        const char *name;
        size_t offset;          /* in the struct */
        uint8_t size;           /* bytes of one element: 1, 2, 4 or 8 */
        uint16_t count;         /* elements (1 for a scalar) */
} StateField;

#define STATE_FIELD(type, f)                                                                      \
        { #f, __builtin_offsetof(type, f), sizeof(((type *) 0)->f), 1 }
#define STATE_ARRAY(type, f)                                                                      \
        { #f, __builtin_offsetof(type, f), sizeof(((type *) 0)->f[0]),                            \
          sizeof(((type *) 0)->f) / sizeof(((type *) 0)->f[0]) }

typedef struct StateLayout {
        const char *name;       /* "serial": error messages */
        uint32_t id;            /* section id */
        uint32_t version;       /* section version this layout is */
        const StateField *fields;
        size_t n_fields;
} StateLayout;

/* Bytes a payload of this layout has. */
size_t state_layout_size(const StateLayout *l);
/* Append the struct `s` as section (l->id, instance, l->version). */
void state_put(StateWriter *w, const StateLayout *l, uint32_t instance, const void *s);
/* Fill the struct `s` (zeroed first) from section (l->id, instance): the section must exist (unless
 * optional, then 0 is returned with *found false), have the layout's version and exact size. */
int state_get(StateReader *r, const StateLayout *l, uint32_t instance, void *s, bool *ret_found, KError **err);
/* Decode a raw payload into `s` (no lookup); -EBADMSG on a wrong length. */
int state_decode(const StateLayout *l, const uint8_t *data, size_t len, void *s);

/* Read a whole stream file (at most STATE_MAX_STREAM bytes) / write one atomically (tmp + rename). */
int state_file_read(int dirfd, const char *name, uint8_t **ret_buf, size_t *ret_len, KError **err);
int state_file_write(int dirfd, const char *name, const uint8_t *buf, size_t len, KError **err);
