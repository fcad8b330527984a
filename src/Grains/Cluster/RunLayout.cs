using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Data;
using InsideLLMs.Distributed.Grains.Distributed;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Grains.Model;
using InsideLLMs.Distributed.Grains.Tokenization;
using InsideLLMs.Distributed.Grains.Training;

namespace InsideLLMs.Distributed.Grains.Cluster;

/// <summary>Grain keys of a run's parts, and the checks a spec must pass before anything starts.</summary>
public static class RunLayout
{
    public static string StageKey(string runId, int replica, int stage) => $"{runId}/{replica}/{stage}";

    public static string ShardKey(string runId, int replica) => $"{runId}/{replica}";

    public static PipelineScheduleKind Schedule(string name) => name.Trim().ToLowerInvariant() switch
    {
        "gpipe" => PipelineScheduleKind.GPipe,
        "1f1b" => PipelineScheduleKind.OneFOneB,
        _ => throw new ArgumentException($"Unknown pipeline schedule '{name}'. Schedules: gpipe, 1f1b."),
    };

    /// <summary>
    /// Throws <see cref="ArgumentException"/> naming the first problem: an impossible split, a bad shape or
    /// hyper-parameter, or a corpus file this silo cannot find. Nothing is created before this passes.
    /// </summary>
    public static void Validate(TrainingRunSpec spec)
    {
        ValidateShape(spec);
        if (spec.Corpus != TrainingPreset.SyntheticCorpusName && !File.Exists(spec.Corpus))
        {
            throw new ArgumentException($"The corpus file '{spec.Corpus}' does not exist on this silo.");
        }
    }

    /// <summary>Everything <see cref="Validate"/> checks except the corpus file, which only a silo can look for.</summary>
    public static void ValidateShape(TrainingRunSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Replicas < 1)
        {
            throw new ArgumentException($"A run needs at least one data-parallel replica; got {spec.Replicas}.");
        }

        if (spec.MicroBatches < 1)
        {
            throw new ArgumentException($"Each replica needs at least one micro-batch per step; got {spec.MicroBatches}.");
        }

        if (spec.Stages < 1)
        {
            throw new ArgumentException($"A pipeline needs at least one stage; got {spec.Stages}.");
        }

        if (spec.Dropout != 0)
        {
            // Dropout draws from libtorch's global generator, which stages on shared compute threads would race for;
            // the distributed run would stop being reproducible, and its recovery would stop being exact.
            throw new ArgumentException("Distributed runs train with dropout 0 (masks drawn by concurrent stages would not be reproducible).");
        }

        Schedule(spec.Schedule);
        var model = TrainingSpecs.Model(spec, vocabularySize: 3).Validate();
        StageSpec.Partition(model, spec.Stages);
        TrainingSpecs.Reference(spec).Validate();
        TokenEncodings.Get(spec.Encoding);
        if (spec.CheckpointInterval < 0 || spec.EvalInterval < 0)
        {
            throw new ArgumentException("Checkpoint and evaluation intervals cannot be negative.");
        }
    }

    /// <summary>The model config with the corpus's vocabulary, as every stage and the reference trainer build it.</summary>
    public static GptConfig Model(TrainingRunSpec spec, TokenDataset data) => TrainingSpecs.Model(spec, data.Vocabulary.Count);
}
