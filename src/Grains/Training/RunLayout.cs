using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Maths.Training;

namespace InsideLLMs.Distributed.Grains.Training;

/// <summary>Grain keys of a run's parts, and the silo's check of a spec before anything starts.</summary>
public static class RunLayout
{
    public static string StageKey(string runId, int replica, int stage) => $"{runId}/{replica}/{stage}";

    public static string ShardKey(string runId, int replica) => $"{runId}/{replica}";

    /// <summary>
    /// Throws <see cref="ArgumentException"/> naming the first problem: everything <see cref="TrainingRunSpecs.Validate"/>
    /// checks, and a corpus file this silo cannot find. Nothing is created before this passes.
    /// </summary>
    public static void Validate(TrainingRunSpec spec)
    {
        TrainingRunSpecs.Validate(spec);
        if (spec.Corpus != TrainingPreset.SyntheticCorpusName && !File.Exists(spec.Corpus))
        {
            throw new ArgumentException($"The corpus file '{spec.Corpus}' does not exist on this silo.");
        }
    }
}
