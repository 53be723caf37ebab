//! `rocketlog-wasm`: a thin adapter over `rocketlog-core` for the browser
//! (wasm-bindgen) and for wasmtime hosts (a C-ABI core module and a component).
//! It holds no format logic of its own.

// The wasmtime plugin (C-ABI core module and component); see docs/plugin.md.
#[cfg(feature = "component")]
mod component;
#[cfg(any(feature = "plugin", feature = "component"))]
pub mod plugin;

// The wasm-bindgen API for the web page (web-demo/); see web-demo/README.md.
#[cfg(feature = "browser")]
pub mod browser;
