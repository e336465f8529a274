file(REMOVE_RECURSE
  "libsam_static.a"
)
