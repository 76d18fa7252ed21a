/* version.h — the release this tree builds. */
#ifndef OCIREGD_VERSION_H
#define OCIREGD_VERSION_H

#ifndef OCIREGD_VERSION
#define OCIREGD_VERSION "0.1.0"
#endif

#endif
