namespace InsideLLMs.Distributed.Silo.Extensions;

/// <summary>What a refused request returns: one message naming the problem.</summary>
public sealed record ApiError(string Error);
