# install.cmake - `make install` (cmake --install) and the Debian packages
# (cpack -G DEB). Paths are set when the tree is configured: configure with
# -DCMAKE_INSTALL_PREFIX=... (make install PREFIX=...), not --install --prefix.
#
# Components: runtime (the programs, libpipetrack.so.N, the service, the
# options file, man pages) and dev (the header, libpipetrack.a, the .so link,
# pipetrack.pc) - the packages pipetrack and libpipetrack-dev.
include(GNUInstallDirs)

# /usr puts the unit and the options file where Debian's would be
# (/lib/systemd/system, /etc/default); any other prefix keeps them under it.
if(NOT PT_SYSTEMD_UNITDIR)
  if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    set(PT_SYSTEMD_UNITDIR /lib/systemd/system)
  else()
    set(PT_SYSTEMD_UNITDIR ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
  endif()
endif()
set(PT_ENV_FILE ${CMAKE_INSTALL_FULL_SYSCONFDIR}/default/pipetrack)

foreach(d LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${d}}")
    set(PT_PC_${d} "${CMAKE_INSTALL_${d}}")
  else()
    set(PT_PC_${d} "\${prefix}/${CMAKE_INSTALL_${d}}")
  endif()
endforeach()

set(PT_PKG ${CMAKE_BINARY_DIR}/packaging)
configure_file(packaging/pipetrack.pc.in ${PT_PKG}/pipetrack.pc @ONLY)
configure_file(packaging/pipetrackd.service.in ${PT_PKG}/pipetrackd.service @ONLY)
configure_file(packaging/pipetrack.default.in ${PT_PKG}/pipetrack @ONLY)
file(WRITE ${PT_PKG}/conffiles.tmp "${PT_ENV_FILE}\n")
configure_file(${PT_PKG}/conffiles.tmp ${PT_PKG}/debian/conffiles COPYONLY)
foreach(s postinst prerm postrm triggers)
  configure_file(packaging/debian/${s} ${PT_PKG}/debian/${s} COPYONLY)
endforeach()

# Man pages, compressed as Debian ships them (man reads them either way).
find_program(GZIP gzip REQUIRED)
set(PT_MANS "")
foreach(m pipetrack.1 pipetrackd.8)
  add_custom_command(OUTPUT ${PT_PKG}/${m}.gz
    COMMAND ${GZIP} -9 -n -c ${CMAKE_SOURCE_DIR}/docs/${m} > ${PT_PKG}/${m}.gz
    DEPENDS ${CMAKE_SOURCE_DIR}/docs/${m} VERBATIM)
  list(APPEND PT_MANS ${PT_PKG}/${m}.gz)
endforeach()
add_custom_target(pipetrack_man ALL DEPENDS ${PT_MANS})

# The license: LICENSE in the doc directory of `make install`; the packages
# (PT_DEBIAN, set by scripts/deb.sh) carry Debian's copyright file and a
# changelog.gz (native packages) in each package's doc directory instead.
option(PT_DEBIAN "Install the Debian packages' copyright and changelog.gz (make deb)" OFF)
set(CPACK_PACKAGE_CONTACT "pipetrack maintainers <maintainers@pipetrack.invalid>")
if(PT_DEBIAN)
  # the changelog's date is the release's in CHANGELOG.md (reproducible)
  file(STRINGS CHANGELOG.md PT_REL REGEX "^## \\[${PROJECT_VERSION}\\] - [0-9-]+$")
  if(NOT PT_REL)
    message(FATAL_ERROR "CHANGELOG.md has no '## [${PROJECT_VERSION}] - YYYY-MM-DD' heading")
  endif()
  string(REGEX REPLACE ".* - " "" PT_REL_DAY "${PT_REL}")
  execute_process(COMMAND env LC_ALL=C date -u -d "${PT_REL_DAY}" "+%a, %d %b %Y 00:00:00 +0000"
    OUTPUT_VARIABLE PT_DEB_DATE OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
  configure_file(packaging/debian/copyright.in ${PT_PKG}/debian/copyright @ONLY)
  foreach(pkg pipetrack libpipetrack-dev)
    set(PT_DEB_PKG ${pkg})
    configure_file(packaging/debian/changelog.in ${PT_PKG}/debian/${pkg}/changelog @ONLY)
    add_custom_command(OUTPUT ${PT_PKG}/debian/${pkg}/changelog.gz
      COMMAND ${GZIP} -9 -n -c ${PT_PKG}/debian/${pkg}/changelog > ${PT_PKG}/debian/${pkg}/changelog.gz
      DEPENDS ${PT_PKG}/debian/${pkg}/changelog VERBATIM)
  endforeach()
  add_custom_target(pipetrack_debian_docs ALL DEPENDS ${PT_PKG}/debian/pipetrack/changelog.gz
    ${PT_PKG}/debian/libpipetrack-dev/changelog.gz)
  install(FILES ${PT_PKG}/debian/copyright ${PT_PKG}/debian/pipetrack/changelog.gz
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/pipetrack COMPONENT runtime)
  install(FILES ${PT_PKG}/debian/copyright ${PT_PKG}/debian/libpipetrack-dev/changelog.gz
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/libpipetrack-dev COMPONENT dev)
else()
  install(FILES LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT runtime)
endif()

install(TARGETS pipetrack_shared
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev)
install(TARGETS pipetrack ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
# install/strip and CPack strip programs and shared libraries; the archive
# loses its debug sections too, as Debian's dh_strip does
install(CODE "if(CMAKE_INSTALL_DO_STRIP)
  execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-debug
    \"\$ENV{DESTDIR}${CMAKE_INSTALL_FULL_LIBDIR}/$<TARGET_FILE_NAME:pipetrack>\")
endif()" COMPONENT dev)
install(FILES include/pipetrack.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
install(FILES ${PT_PKG}/pipetrack.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

install(TARGETS pipetrackd pipetrack_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  COMPONENT runtime)
install(FILES ${PT_PKG}/pipetrack.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT runtime)
install(FILES ${PT_PKG}/pipetrackd.8.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8 COMPONENT runtime)
install(FILES ${PT_PKG}/pipetrackd.service DESTINATION ${PT_SYSTEMD_UNITDIR} COMPONENT runtime)
install(FILES ${PT_PKG}/pipetrack DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/default COMPONENT runtime)
install(FILES README.md CHANGELOG.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT runtime)

# ---- cpack -G DEB: pipetrack_<version>_<arch>.deb, libpipetrack-dev_... --------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME pipetrack)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "pipetrack")
# (CPACK_PACKAGE_CONTACT is set above, for the copyright file)
# the tree's own paths (/etc/default, /lib/systemd/system are outside /usr)
set(CPACK_SET_DESTDIR ON)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME pipetrack)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION net)
# adduser for the postinst's system user; the libraries come from dpkg-shlibdeps
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "adduser")
# (the first line is the synopsis; CPack indents the rest, an empty line is " .")
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "pipeline tracking server, tool and library
pipetrack tracks multi-step pipelines (a checkout, a payment, a signup, a
data job) while they run: one event per step, bound into a tamper-evident
SHA-256 hash chain, with status summaries, checksum snapshots, issue reports
and verification.

This package holds pipetrackd (the HTTP/JSON server with its dashboard, run
by pipetrackd.service as the user pipetrack, data in /var/lib/pipetrack),
the pipetrack command-line tool and the shared library libpipetrack.so.0.")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
  ${PT_PKG}/debian/postinst ${PT_PKG}/debian/prerm ${PT_PKG}/debian/postrm
  ${PT_PKG}/debian/conffiles ${PT_PKG}/debian/triggers)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libpipetrack-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
# pipetrack.pc names these in Requires.private: pkg-config needs their .pc files
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
  "pipetrack (= ${PROJECT_VERSION}), libssl-dev, libsqlite3-dev, libjansson-dev, libpq-dev")
set(CPACK_DEBIAN_DEV_DESCRIPTION "pipeline tracking library - development files
pipetrack tracks multi-step pipelines into a tamper-evident SHA-256 hash
chain. This package holds the header pipetrack.h, the static library
libpipetrack.a, the link to libpipetrack.so and pipetrack.pc for
pkg-config.")
include(CPack)
