namespace InsideLLMs.Distributed.Maths.Pipeline;

/// <summary>The operations a training step records; the strings appear as-is in the Chrome trace.</summary>
public static class TraceOps
{
    public const string Forward = "forward";
    public const string Backward = "backward";
    public const string Optimizer = "optimizer";
    public const string Send = "send";
    public const string Receive = "receive";
    public const string AllReduce = "allreduce";

    public static IReadOnlyList<string> All { get; } = [Forward, Backward, Optimizer, Send, Receive, AllReduce];

    /// <summary>Forward, backward and optimizer: the work a bubble is the absence of. Messaging is not compute.</summary>
    public static bool IsCompute(string op) => op is Forward or Backward or Optimizer;

    public static bool IsKnown(string op) => op is Forward or Backward or Optimizer or Send or Receive or AllReduce;
}
