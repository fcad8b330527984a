namespace InsideLLMs.Distributed.Tests.Processes;

/// <summary>
/// Tests that measure real processes on the 2 cores (failover timing): they run after the parallel collections, with
/// the machine to themselves, so a loaded machine cannot stretch their timeouts.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AloneCollection
{
    public const string Name = "alone on the machine";
}
