namespace InsideLLMs.Distributed.Grains; internal static class Placeholder { }
