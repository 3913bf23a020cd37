{
  "targets": [
    {
      "target_name": "uringkit",
      "sources": [
        "native/addon.c",
        "native/ring.c",
        "native/prep.c",
        "native/net.c",
        "native/register.c",
        "native/fdtrack.c",
        "native/iowq.c",
        "native/registry.c",
        "native/handle.c"
      ],
      "cflags_c": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "defines": ["NAPI_VERSION=8"],
      "conditions": [
        ["\"<!(echo $UK_ASAN)\"==\"1\"", {
          "cflags_c": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"],
          "ldflags": ["-fsanitize=address,undefined"]
        }]
      ]
    }
  ]
}
