//! Operations: the domain figures that `/metrics` exposes, read from the database so that
//! every process reports the same ones; the optional OpenTelemetry trace export.

pub mod metrics;
pub mod traces;
