/* files.h -- the files a target names (a core's mapped files, a module's
 * path, its debug files): opened only the checked way, their build-ids
 * read from their own ELF notes.  Internal to target/. */
#ifndef HG_FILES_H
#define HG_FILES_H

#include <stddef.h>
#include <stdint.h>

struct stat;

/*
 * Open a file that a target names for reading, the safe way: the path is
 * stat()ed first and only a regular file is opened, with O_NONBLOCK and
 * O_NOCTTY (a FIFO or a device swapped in meanwhile can neither block
 * heapgrab nor become its terminal), then checked again with fstat();
 * with elf set, the file must also start with an ELF header.  Files of
 * /proc, /sys and the like are refused (/proc/kcore is a regular ELF
 * file).  Returns the descriptor (O_CLOEXEC), or -1 with errno: EISDIR for
 * a directory, ENODEV for any other file that is not regular or is the
 * kernel's, ENOEXEC for a file that is not ELF, or open()'s own.
 */
int hg_open_file(const char *path, int elf, struct stat *st);

/* A build-id of up to 39 bytes, as hex with its NUL. */
#define HG_BUILD_ID_HEX 80

/* One ELF note. */
typedef struct hg_note {
    uint32_t type;
    const unsigned char *name, *desc;
    uint32_t namesz, descsz;
} hg_note;
/* The note at *off in [base, base + len), each part padded to align
 * bytes; advances *off.  0 at the end or at a note that does not fit. */
int hg_next_note(const unsigned char *base, size_t len, size_t align, size_t *off, hg_note *out);
/* The note's name is name (with its NUL). */
int hg_note_named(const hg_note *n, const char *name);
/* The GNU build-id in the notes of an ELF image (the first len bytes of a
 * file, or a core's copy of them), as hex into hex[HG_BUILD_ID_HEX]; 0 if
 * it is not there. */
int hg_image_build_id(const unsigned char *img, size_t len, char *hex);
/* The same, read from an open ELF file's own program headers. */
int hg_file_build_id(int fd, char *hex);

/*
 * A debug file for a module, found the way libdwfl's standard lookup finds
 * one but opened through hg_open_file (a FIFO where a debug file is looked
 * for must not hold heapgrab forever): by build-id (bits[0..n)) under each
 * directory of the debuginfo path list, then by the debuglink name next to
 * file_name, in its .debug directory, and under each directory of the
 * path.  A file is taken only if its build-id (or, without one, its CRC)
 * is right.  Returns the descriptor and *name (malloc'd), or -1; *absent
 * is cleared when something was found where a debug file was looked for.
 */
int hg_find_debug_file(const char *list, const unsigned char *bits, int n, const char *file_name,
                       const char *debuglink, uint32_t crc, char **name, int *absent);
/* The same by build-id only (a dwz file, named by its build-id). */
int hg_find_debug_by_build_id(const char *list, const unsigned char *bits, int n, char **name,
                              int *absent);

#endif
