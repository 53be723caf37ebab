//! `rocketlog-wasm`: a thin adapter over `rocketlog-core` for the browser
//! (wasm-bindgen) and for wasmtime hosts (a C-ABI core module and a component).
//! It holds no format logic of its own.
