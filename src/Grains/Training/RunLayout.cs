using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;

namespace InsideLLMs.Distributed.Grains.Training;

/// <summary>Grain keys of a run's parts, and the silo's check of a spec before anything starts.</summary>
public static class RunLayout
{
    /// <summary>
    /// Stage <paramref name="stage"/> of <paramref name="stages"/> in <paramref name="replica"/>: "{run}/{replica}/{stage}-of-{stages}".
    /// The number of stages is in the key so that placement (<see cref="StagePlacementDirector"/>) can number every stage of
    /// the run and spread them over however many silos there are.
    /// </summary>
    public static string StageKey(string runId, int replica, int stage, int stages) => $"{runId}/{replica}/{stage}-of-{stages}";

    public static string ShardKey(string runId, int replica) => $"{runId}/{replica}";

    /// <summary>
    /// A run's whole model from replica 0's stages, the tied matrix once (as wte.weight); a stage that was collected
    /// comes back from its last checkpoint.
    /// </summary>
    public static async Task<IReadOnlyList<NamedTensor>> WholeModelAsync(IGrainFactory grains, string runId, int stages)
    {
        ArgumentNullException.ThrowIfNull(grains);
        var parts = await Task.WhenAll(Enumerable.Range(0, stages).Select(stage =>
            grains.GetGrain<IPipelineStageGrain>(StageKey(runId, 0, stage, stages)).GetParametersAsync()));
        return [.. parts.SelectMany(p => p).Where(p => p.Name != "lm_head.weight")];
    }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> naming the first problem: everything <see cref="TrainingRunSpecs.Validate"/>
    /// checks, and a corpus or instruction file this silo may not read (see <see cref="CorpusLocator"/>). Nothing is created before this passes.
    /// </summary>
    public static void Validate(TrainingRunSpec spec, CorpusLocator corpora)
    {
        ArgumentNullException.ThrowIfNull(corpora);
        TrainingRunSpecs.Validate(spec);
        corpora.Resolve(spec.Corpus);
        corpora.Resolve(TrainingRunSpecs.InstructionSource(spec)); // a JSON Lines file is a corpus file like any other
    }
}
