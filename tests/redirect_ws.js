// Preload for `node -r` (tests/test_examples.py): the user's example hard-codes
// ws://localhost:8111; point it at the test server (DERSIM_WS_HOSTPORT) without editing it.
const Module = require("module");
const target = process.env.DERSIM_WS_HOSTPORT;
const load = Module._load;
Module._load = function (request, ...rest) {
  const loaded = load.call(this, request, ...rest);
  if (request !== "ws" || !target) {
    return loaded;
  }
  return class RedirectedWebSocket extends loaded {
    constructor(url, ...args) {
      super(String(url).replace("localhost:8111", target), ...args);
    }
  };
};
