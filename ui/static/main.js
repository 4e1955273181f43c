// Loads the wasm UI; kept out of index.html so the CSP needs no inline script.
import init from "./kith-ui.js";
init();
