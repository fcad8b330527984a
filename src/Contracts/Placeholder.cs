namespace InsideLLMs.Distributed.Contracts; internal static class Placeholder { }
