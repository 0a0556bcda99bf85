/* The library's version string, from the public header's numbers and the
 * build's AMXQ_VERSION_EXTRA (the git revision, set by meson). */
#ifndef AMXQ_VERSION_H
#define AMXQ_VERSION_H

#include "amxq.h"

#ifndef AMXQ_VERSION_EXTRA
#define AMXQ_VERSION_EXTRA ""
#endif
#define AMXQ_STR2_(x) #x
#define AMXQ_STR_(x) AMXQ_STR2_(x)
#define AMXQ_VERSION_STRING                                                                      \
    AMXQ_STR_(AMXQ_VERSION_MAJOR) "." AMXQ_STR_(AMXQ_VERSION_MINOR) "." AMXQ_STR_(AMXQ_VERSION_PATCH) \
        AMXQ_VERSION_EXTRA

#endif
