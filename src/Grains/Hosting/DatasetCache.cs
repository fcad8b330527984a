using System.Collections.Concurrent;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Data;
using InsideLLMs.Distributed.Grains.Model;
using InsideLLMs.Distributed.Grains.Tokenization;
using InsideLLMs.Distributed.Grains.Training;

namespace InsideLLMs.Distributed.Grains.Hosting;

/// <summary>
/// One dataset per (corpus, encoding, context, seed) per silo: every stage and shard grain of a run on this silo
/// shares it (the default synthetic corpus is ~800k tokens, built in under a second).
/// </summary>
public sealed class DatasetCache
{
    private readonly ConcurrentDictionary<string, Lazy<TokenDataset>> _datasets = new(StringComparer.Ordinal);

    public TokenDataset Get(TrainingRunSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var key = $"{spec.Corpus}|{spec.Encoding}|{spec.Context}|{spec.Seed}";
        var lazy = _datasets.GetOrAdd(key, _ => new Lazy<TokenDataset>(
            () => TrainingPreset.LoadDataset(spec.Corpus, spec.Encoding, spec.Context, spec.Seed)));
        try
        {
            return lazy.Value;
        }
        catch
        {
            _datasets.TryRemove(key, out _); // a bad corpus must not stay cached as a failure
            throw;
        }
    }
}

/// <summary>The spec's model and optimisation in the plain classes' terms.</summary>
public static class TrainingSpecs
{
    public static GptConfig Model(TrainingRunSpec spec, int vocabularySize) => new()
    {
        VocabularySize = vocabularySize,
        BlockSize = spec.Context,
        LayerCount = spec.Layers,
        HeadCount = spec.Heads,
        EmbeddingSize = spec.Width,
        Dropout = spec.Dropout,
    };

    /// <summary>
    /// The reference trainer's options for the same global batch: R replicas x M micro-batches of B rows become
    /// M x R micro-batches of B rows in one process (the dataset numbers rows so both see the same rows).
    /// </summary>
    public static TrainingOptions Reference(TrainingRunSpec spec) => new()
    {
        Steps = spec.Steps,
        BatchSize = spec.BatchSize,
        MicroBatches = spec.MicroBatches * spec.Replicas,
        LearningRate = spec.LearningRate,
        MinLearningRate = spec.MinLearningRate,
        WarmupSteps = spec.WarmupSteps,
        WeightDecay = spec.WeightDecay,
        Beta1 = spec.Beta1,
        Beta2 = spec.Beta2,
        GradClip = spec.GradClip,
        Seed = spec.Seed,
        EvalInterval = spec.EvalInterval,
        EvalBatches = spec.EvalBatches,
    };
}
