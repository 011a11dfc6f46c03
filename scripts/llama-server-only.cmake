# Included into llama.cpp's CMake project (CMAKE_PROJECT_llama.cpp_INCLUDE) by
# scripts/build-llama-server.sh, to build llama-server sooner on a first install. Once the
# project is configured:
# - every target that neither llama-server nor llama-quantize (which re-encodes the embedded
#   model's weights) needs is left out of the default build (the other tools, the unified
#   binary and their libraries);
# - the code off the per-token path (argument parsing, chat templates, JSON, HTTP, the
#   server's request handling, the multimodal library) is compiled at -O1 rather than -O3, in
#   unity batches (several sources per compiler run: their shared headers, JSON above all,
#   are parsed once). The model's arithmetic (ggml) and libllama keep llama.cpp's own flags.
# Measured in benchmarks/README.md (setup_time.py): the compilers' CPU time and the server's
# speed against the plain build.

cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _lakeinfer_server_only)

function(_lakeinfer_targets dir out)
  get_property(targets DIRECTORY "${dir}" PROPERTY BUILDSYSTEM_TARGETS)
  get_property(subdirs DIRECTORY "${dir}" PROPERTY SUBDIRECTORIES)
  foreach(sub IN LISTS subdirs)
    _lakeinfer_targets("${sub}" more)
    list(APPEND targets ${more})
  endforeach()
  set(${out} ${targets} PARENT_SCOPE)
endfunction()

function(_lakeinfer_server_only)
  _lakeinfer_targets("${CMAKE_SOURCE_DIR}" targets)
  foreach(target IN LISTS targets)
    get_target_property(type ${target} TYPE)
    if(type STREQUAL "INTERFACE_LIBRARY" OR target MATCHES "^llama-(server|quantize)$")
      continue()
    endif()
    set_target_properties(${target} PROPERTIES EXCLUDE_FROM_ALL TRUE)
  endforeach()
  # (-O1 comes after CMake's -O3 on the command line, and the last one counts)
  foreach(target llama-common mtmd server-context llama-server-impl cpp-httplib llama-server
                 llama-quantize)
    if(TARGET ${target})
      target_compile_options(${target} PRIVATE -O1)
      set_target_properties(${target} PROPERTIES UNITY_BUILD ON)
    endif()
  endforeach()
  if(TARGET mtmd)
    # mtmd's public helpers must not see its internal headers, which a unity file would share
    get_target_property(sources mtmd SOURCES)
    get_target_property(source_dir mtmd SOURCE_DIR)
    foreach(source IN LISTS sources)
      if(source MATCHES "mtmd-helper")
        set_source_files_properties("${source_dir}/${source}" DIRECTORY "${source_dir}"
          PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
      endif()
    endforeach()
  endif()
endfunction()
