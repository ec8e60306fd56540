//! What survives a restart: pause flags, last scheduled instants.
