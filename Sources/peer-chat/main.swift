import ForkServer

CommandLineProgram(name: "peer-chat").exit(UsageError("not written yet"))
