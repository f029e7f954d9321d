/* assets.h - the dashboard's files, built into pipetrackd at compile time
 * (cmake/embed.cmake writes the table from web/). */
#ifndef PTD_ASSETS_H
#define PTD_ASSETS_H

#include <stddef.h>

typedef struct ptd_asset {
  const char *name; /* "index.html", "app.js", … */
  const char *type; /* Content-Type */
  const char *etag; /* quoted: 32 hex digits of the content's SHA-256 */
  const unsigned char *data;
  size_t len;
} ptd_asset;

extern const ptd_asset ptd_assets[];
extern const size_t ptd_nassets;

#endif
