# CBFlib (Debian: libcbf-dev) is optional: the CBF reader is our own, CBFlib only serves as the
# reference it is compared against in a test and a benchmark.
find_path(DIFFTRIAGE_CBFLIB_INCLUDE_DIR cbf.h PATH_SUFFIXES cbflib cbf)
find_path(DIFFTRIAGE_CBFLIB_HDF5_INCLUDE_DIR hdf5.h PATH_SUFFIXES hdf5/serial)  # cbf.h includes it
find_library(DIFFTRIAGE_CBFLIB_LIBRARY cbf)

# dt_link_cbflib(<target>): links CBFlib and defines DT_HAVE_CBFLIB when it is installed.
function(dt_link_cbflib target)
  if(DIFFTRIAGE_CBFLIB_INCLUDE_DIR AND DIFFTRIAGE_CBFLIB_HDF5_INCLUDE_DIR AND DIFFTRIAGE_CBFLIB_LIBRARY)
    target_include_directories(${target} SYSTEM PRIVATE ${DIFFTRIAGE_CBFLIB_INCLUDE_DIR}
                               ${DIFFTRIAGE_CBFLIB_HDF5_INCLUDE_DIR})
    target_link_libraries(${target} PRIVATE ${DIFFTRIAGE_CBFLIB_LIBRARY})
    target_compile_definitions(${target} PRIVATE DT_HAVE_CBFLIB)
  endif()
endfunction()
