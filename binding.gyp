{
  "targets": [
    {
      "target_name": "snax_native",
      "sources": [
        "native/addon.cpp",
        "<!@(node -p \"require('fs').readdirSync('native/cpu').filter(f => f.endsWith('.cpp')).map(f => 'native/cpu/' + f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/bindings').filter(f => f.endsWith('.cpp')).map(f => 'native/bindings/' + f).join(' ')\")"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions", "-O2"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-O2", "-std=gnu++17"],
      "cflags": ["-O3", "-fopenmp", "-fexceptions"],
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-fexceptions", "-frtti"],
      "ldflags": ["-fopenmp"],
      "conditions": [
        ["'<!(node -p \"process.env.SNAX_PORTABLE || ''\")' == ''", {
          "cflags": ["-march=native"],
          "cflags_cc": ["-march=native"]
        }]
      ]
    }
  ]
}
