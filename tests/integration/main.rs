//! Integration tests: the engine, the Lambda binary and the CLI against the local AWS emulator
//! (moto_server), through the real AWS SDK wire protocol. One binary, one emulator process;
//! every test works in names of its own.

mod alarms;
mod app_settings;
mod bootstrap;
mod chaos;
mod cli;
mod copy;
mod emulator;
mod faults;
mod first_contact;
mod first_hour;
mod fixture;
mod lambda_runtime_api;
mod outcomes;
mod readiness;
mod redeploy;
mod smoke;
mod strategies;
mod strict;
mod transcript;
