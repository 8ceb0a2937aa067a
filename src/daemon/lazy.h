/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "error.h"

/* kapseld binds libcurl, libarchive, libnftnl, libmnl and sqlite on first use (lazy.c): an idle
 * daemon does not map them, nor their chains (krb5, LDAP, ssh2, libxml2, ICU, libstdc++...).
 * lazy_check() loads every one of them and resolves every function kapseld uses: the start-up
 * check runs it in its child, so that a missing library stops the start instead of a request. */
int lazy_check(KError **err);
