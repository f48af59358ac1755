# One INTERFACE target carries the project's warning flags and sanitizer switches.
add_library(difftriage_warnings INTERFACE)
set_target_properties(difftriage_warnings PROPERTIES EXPORT_NAME warnings)
target_compile_options(difftriage_warnings INTERFACE
  $<$<CXX_COMPILER_ID:GNU,Clang>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor>)
if(DIFFTRIAGE_WERROR)
  target_compile_options(difftriage_warnings INTERFACE -Werror)
endif()
if(DIFFTRIAGE_SANITIZE)
  target_compile_options(difftriage_warnings INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer)
  target_link_options(difftriage_warnings INTERFACE -fsanitize=address,undefined)
endif()
