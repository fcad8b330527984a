using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Pipeline;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Tests.Admission;

public sealed class StageMemoryTests
{
    private static readonly GptConfig Tiny = new() { VocabularySize = 10, BlockSize = 8, LayerCount = 2, HeadCount = 2, EmbeddingSize = 4 };

    [Fact]
    public void Estimate_TwoStages1F1B_MatchesTheCountByHand()
    {
        // B 3, T 8, C 4, H 2, V 10, no biases. A block: 12·C² + 2·C = 200 parameters.
        // Stage 0: a block + token and position tables (10 + 8)·4 = 272; stage 1: a block + ln_f 4 + its copy of the tied head 40 = 244.
        // A block keeps 96 bytes per row, position and channel: 96·(3·8·4) = 9,216; stage 0 adds its two lookups, 8·96 = 768.
        // 1F1B holds min(M, P - s) micro-batches: 2 on stage 0, 1 on stage 1. Logits: 3·B·T·V·4 = 2,880 bytes.
        var stages = StageMemory.Estimate(Tiny, stages: 2, batchSize: 3, microBatches: 4, PipelineScheduleKind.OneFOneB);

        Assert.Equal(new StageMemory(0, 272, 272 * 36, 9_984, 2, 0), stages[0]);
        Assert.Equal(new StageMemory(1, 244, 244 * 36, 9_216, 1, 2_880), stages[1]);
        Assert.Equal(24_000_000 + (272 * 36) + (2 * 9_984), stages[0].TotalBytes);
        Assert.Equal(24_000_000 + (244 * 36) + 9_216 + 2_880, stages[1].TotalBytes);
    }

    [Fact]
    public void Estimate_GPipe_HoldsEveryMicroBatchOnEveryStage()
    {
        var gpipe = StageMemory.Estimate(Tiny, stages: 2, batchSize: 3, microBatches: 4, PipelineScheduleKind.GPipe);

        Assert.All(gpipe, stage => Assert.Equal(4, stage.MicroBatchesInFlight));
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, true)]
    [InlineData(3, false)]
    [InlineData(4, true)]
    public void Estimate_Parameters_EqualTheRealStagesParameterCount(int stageCount, bool bias)
    {
        var config = new GptConfig { VocabularySize = 37, BlockSize = 16, LayerCount = 4, HeadCount = 2, EmbeddingSize = 32, Bias = bias };
        var estimate = StageMemory.Estimate(config, stageCount, batchSize: 2, microBatches: 2, PipelineScheduleKind.OneFOneB);

        using var scope = NewDisposeScope();
        foreach (var (spec, memory) in StageSpec.Partition(config, stageCount).Zip(estimate))
        {
            using var stage = new GptStage(config, spec, seed: 1);
            Assert.Equal(stage.parameters().Sum(p => p.numel()), memory.Parameters);
        }
    }

    [Fact]
    public void Estimate_FarBeyondAnyMachine_SaturatesInsteadOfWrapping()
    {
        var huge = new GptConfig { VocabularySize = 50_000, BlockSize = 1 << 20, LayerCount = 96, HeadCount = 64, EmbeddingSize = 1 << 16 };

        var stage = Assert.Single(StageMemory.Estimate(huge, stages: 1, batchSize: int.MaxValue, microBatches: int.MaxValue, PipelineScheduleKind.GPipe));

        Assert.Equal(long.MaxValue, stage.TotalBytes);
        Assert.True(stage.StateBytes > 0 && stage.ActivationBytes > 0 && stage.LogitBytes > 0);
    }

    [Theory]
    [InlineData(999L, "999 B")]
    [InlineData(80_000L, "80 kB")]
    [InlineData(512_000_000L, "512 MB")]
    [InlineData(12_345_000_000L, "12.3 GB")]
    [InlineData(1_363_800_000_000L, "1.4 TB")]
    [InlineData(long.MaxValue, "9,223,372.0 TB")]
    public void Format_ReadsAsPeopleWriteSizes(long bytes, string text) => Assert.Equal(text, StageMemory.Format(bytes));
}

public sealed class RunAdmissionTests
{
    /// <summary>The default spec's synthetic corpus has 258 tokens in its vocabulary.</summary>
    private const int Vocabulary = 258;

    private static readonly TrainingRunSpec Small = new() { Stages = 2, Replicas = 2, MicroBatches = 2, Layers = 2, Width = 32, Heads = 2, Context = 32, BatchSize = 2 };

    [Fact]
    public void Admit_SmallRun_ReturnsTheEstimateOfEveryStage()
    {
        var estimate = RunAdmission.Admit(Small, Vocabulary, budgetPerSilo: 1L << 30, silos: 1);

        Assert.Equal(2, estimate.Stages.Count);
        Assert.Equal(2 * estimate.Stages.Sum(s => s.TotalBytes), estimate.TotalBytes);
    }

    [Fact]
    public void Admit_BatchTooLargeForOneSilo_SaysTheEstimateItsPartsAndTheBudget()
    {
        var spec = Small with { BatchSize = 100_000, Context = 256, Width = 256, Heads = 8 };

        var error = Assert.Throws<ArgumentException>(() => RunAdmission.Admit(spec, Vocabulary, budgetPerSilo: 2_000_000_000, silos: 3));

        var stage = RunAdmission.Estimate(spec, Vocabulary).Largest;
        Assert.StartsWith($"The run would need about {StageMemory.Format(stage.TotalBytes)} for stage {stage.Stage} alone (", error.Message, StringComparison.Ordinal);
        Assert.Contains($"activations of {stage.MicroBatchesInFlight} micro-batch(es) in flight {StageMemory.Format(stage.ActivationBytes)}", error.Message, StringComparison.Ordinal);
        Assert.Contains("but a silo's memory budget (Compute:MemoryBudget) is 2.0 GB", error.Message, StringComparison.Ordinal);
        Assert.Contains("fewer rows per micro-batch", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Admit_ModelTooLargeForOneSilo_CountsItsParameters()
    {
        var spec = Small with { Layers = 48, Width = 4096, Heads = 32, BatchSize = 1, Stages = 1, Replicas = 1, MicroBatches = 1 };

        var error = Assert.Throws<ArgumentException>(() => RunAdmission.Admit(spec, Vocabulary, budgetPerSilo: 12_000_000_000, silos: 1));

        var parameters = RunAdmission.Estimate(spec, Vocabulary).Largest.Parameters;
        Assert.InRange(parameters, 9_600_000_000, 9_800_000_000); // 48 x 12 x 4096² and the tables
        Assert.Contains($"({parameters:N0} parameters with gradients and optimizer state", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Admit_EachStageFitsButNotTheClusterTogether_AsksForMoreSilos()
    {
        var spec = Small with { Replicas = 8, Width = 512, Heads = 8, Layers = 4, BatchSize = 8, Context = 64 };
        var estimate = RunAdmission.Estimate(spec, Vocabulary);
        var budget = estimate.Largest.TotalBytes + 1;

        var error = Assert.Throws<ArgumentException>(() => RunAdmission.Admit(spec, Vocabulary, budget, silos: 2));

        Assert.Contains($"in all (2 stage(s) x 8 replica(s)), but the cluster's 2 silo(s)", error.Message, StringComparison.Ordinal);
        Assert.EndsWith("or add silos.", error.Message, StringComparison.Ordinal);
        Assert.Equal(estimate, RunAdmission.Admit(spec, Vocabulary, budget, silos: 16), new EstimateComparer());
    }

    [Fact]
    public void Admit_InvalidSpec_IsRefusedByTheSpecChecksFirst()
    {
        var error = Assert.Throws<ArgumentException>(() => RunAdmission.Admit(Small with { Replicas = 0 }, Vocabulary, 1L << 30, 1));

        Assert.Equal("A run needs at least one data-parallel replica; got 0.", error.Message);
    }

    private sealed class EstimateComparer : IEqualityComparer<RunMemoryEstimate>
    {
        public bool Equals(RunMemoryEstimate? x, RunMemoryEstimate? y) =>
            x is not null && y is not null && x.Replicas == y.Replicas && x.Stages.SequenceEqual(y.Stages);

        public int GetHashCode(RunMemoryEstimate obj) => obj.Replicas;
    }
}
