using System.Runtime.InteropServices;
using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Rlhf;
using InsideLLMs.Distributed.Maths.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Tests.Cluster;

/// <summary>
/// Supervised fine-tuning through the distributed engine computes what one process computes: a base model pre-trained
/// on the cluster and published, then fine-tuned on the built-in instructions pipeline- and data-parallel, against the
/// reference trainer starting from the same published weights on the same global batch (the tolerance of the
/// pre-training equivalence tests); and a rollback in the middle changes nothing. The reward model (a score head on
/// the same published weights, trained on rankings with the pairwise objective) likewise.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class SftEquivalenceTests(ClusterFixture fixture, ITestOutputHelper output)
{
    private const int Steps = 5;

    private static readonly DatasetCache Datasets = new();

    // Context 64: the built-in instruction rows (prompt and response) are up to ~35 GPT-2 tokens.
    private static readonly TrainingRunSpec Base = new()
    {
        Layers = 4, Heads = 2, Width = 32, Context = 64, Steps = 3, BatchSize = 2, LearningRate = 3e-3, MinLearningRate = 3e-4,
        WarmupSteps = 2, CheckpointInterval = 0, EvalInterval = 0, Seed = 21,
    };

    private static TrainingRunSpec Sft(string version, int stages, int replicas, int microBatches) => Base with
    {
        Objective = "sft", InitFrom = version, Steps = Steps, Stages = stages, Replicas = replicas, MicroBatches = microBatches,
        LearningRate = 1e-3, MinLearningRate = 1e-4, Seed = 22, EvalInterval = Steps, EvalBatches = 2,
    };

    [Theory]
    [InlineData(2, 2, 2, "1f1b")]
    [InlineData(2, 1, 4, "gpipe")]
    public async Task Sft_OnTheCluster_MatchesTheReferenceTrainerFromTheSamePublishedWeights(int stages, int replicas, int microBatches, string schedule)
    {
        var version = await PublishedBaseAsync();
        var spec = Sft(version, stages, replicas, microBatches) with { Schedule = schedule };
        var runId = $"sft-eq-{stages}-{replicas}-{microBatches}-{schedule}";

        var (expected, expectedValidation, expectedParameters) = await ReferenceAsync(spec, version);
        var (status, history, parameters) = await TrainAsync(runId, spec);

        Assert.Equal(Enumerable.Range(1, Steps).Select(i => (long)i), history.Select(m => m.Step));
        AssertStepsMatch(expected, history);

        output.WriteLine($"validation (response tokens of held-out instructions): reference {expectedValidation:F6}, cluster {history[^1].ValidationLoss:F6}");
        Assert.True(Math.Abs(expectedValidation - history[^1].ValidationLoss!.Value) <= 4e-5 + 1e-5 * expectedValidation, "validation loss");
        AssertClose(expectedParameters, parameters);
        var info = await fixture.Grains.GetGrain<IModelVersionGrain>(version).GetInfoAsync();
        Assert.Equal(info.Revision, status.Spec!.InitRevision); // pinned at the start
        Assert.Equal("sft", status.Spec.Objective);
    }

    /// <summary>
    /// The reward objective through the engine: the score head lives on the last stage and is not tied to the embedding,
    /// rankings of K = 4 completions are 4 consecutive rows, and each micro-batch's summed ranking loss is divided by the
    /// step's rankings; loss, gradient norm, validation and weights match one process at the pre-training tolerance.
    /// </summary>
    [Theory]
    [InlineData(2, 2, 2, "1f1b")]
    [InlineData(2, 1, 4, "gpipe")]
    public async Task Reward_OnTheCluster_MatchesTheReferenceTrainerFromTheSamePublishedWeights(int stages, int replicas, int microBatches, string schedule)
    {
        var version = await PublishedBaseAsync();
        var spec = Sft(version, stages, replicas, microBatches) with { Objective = "reward", BatchSize = 4, RankingCompletions = 4, Schedule = schedule };
        var runId = $"reward-eq-{stages}-{replicas}-{microBatches}-{schedule}";

        var (expected, expectedValidation, expectedParameters) = await ReferenceAsync(spec, version);
        var (status, history, parameters) = await TrainAsync(runId, spec);

        AssertStepsMatch(expected, history);

        output.WriteLine($"validation (ranking loss of held-out prompts): reference {expectedValidation:F6}, cluster {history[^1].ValidationLoss:F6}");
        Assert.True(Math.Abs(expectedValidation - history[^1].ValidationLoss!.Value) <= 4e-5 + 1e-5 * expectedValidation, "validation loss");
        Assert.Contains("score_head.weight", parameters.Keys);
        Assert.DoesNotContain("lm_head.weight", parameters.Keys);
        AssertClose(expectedParameters, parameters);
        Assert.Equal("reward", status.Spec!.Objective);
        var refusal = await Assert.ThrowsAsync<ArgumentException>(() => fixture.Grains.GetGrain<IModelVersionGrain>($"{runId}-v").PublishAsync(runId));
        Assert.Contains("reward model", refusal.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A reward run on the rankings stored on the cluster: tasks of 3 completions sampled from the published base, ranked
    /// by simulated annotators through the task grains; the run takes every stored ranking when it starts and trains on
    /// them as one process trains on the same rankings.
    /// </summary>
    [Fact]
    public async Task Reward_OnTheClustersStoredRankings_TakesThemAtTheStart_AndMatchesOneProcess()
    {
        var version = await PublishedBaseAsync();
        var board = fixture.Grains.GetGrain<IRankingBoardGrain>(RankingNames.Board);
        var annotator = new SimulatedAnnotator(PreferenceRule.Default, noise: 0, seed: 3);
        foreach (var task in await board.CreateTasksAsync(6, 3, version))
        {
            foreach (var who in new[] { "eq-a", "eq-b" })
            {
                await fixture.Grains.GetGrain<IRankingTaskGrain>(task.Id).SubmitAsync(who, annotator.Rank(task.Id + who, task.Prompt, task.Completions), simulated: true);
            }
        }

        var spec = Sft(version, 2, 2, 1) with { Objective = "reward", Rankings = "cluster", BatchSize = 3, RankingCompletions = 3, EvalBatches = 1 };
        var (status, history, parameters) = await TrainAsync("reward-cluster", spec);
        var taken = await fixture.Grains.GetGrain<IRankingSnapshotGrain>("reward-cluster").GetAsync();
        Assert.True(taken.Count >= 12, $"{taken.Count} rankings taken");

        var published = await fixture.Grains.GetGrain<IModelVersionGrain>(version).GetParametersAsync();
        var data = Datasets.Get(spec);
        var rankings = RankingDataset.Create("cluster", [.. taken.Select(r => new RankedCompletions(r.ReceiptId, r.Prompt, r.Completions, r.Order))], data.Vocabulary, spec.Context, 3);
        using var trainer = new ReferenceTrainer(TrainingRunSpecs.Model(spec, data), data, TrainingRunSpecs.Reference(spec) with { Threads = 1 }, rankings);
        trainer.LoadInitialParameters(published.ToDictionary(p => p.Name, p => (p.Tensor.Data, p.Tensor.Shape)));
        var expected = Enumerable.Range(0, spec.Steps).Select(_ => trainer.TrainStep()).ToArray();
        for (var i = 0; i < Steps; i++)
        {
            Assert.True(Math.Abs(expected[i].Loss - history[i].Loss) <= 4e-5 + 1e-5 * Math.Abs(expected[i].Loss), $"loss at step {i + 1}");
        }

        AssertClose(trainer.Model.named_parameters().ToDictionary(
            p => p.name, p => (MemoryMarshal.Cast<byte, float>(TensorIO.ToBytes(p.parameter)).ToArray(), p.parameter.shape)), parameters);
        Assert.Equal("cluster", status.Spec!.Rankings);
    }

    [Fact]
    public async Task Reward_OnClusterRankingsOfASizeNobodyRanked_IsRefusedBeforeAnythingStarts()
    {
        var version = await PublishedBaseAsync();
        var run = fixture.Grains.GetGrain<ITrainingRunGrain>("reward-none");

        var error = await Assert.ThrowsAsync<ArgumentException>(() => run.StartAsync(
            Sft(version, 1, 1, 1) with { Objective = "reward", Rankings = "cluster", BatchSize = 9, RankingCompletions = 9 }));

        Assert.Contains("No stored ranking orders 9 completions", error.Message, StringComparison.Ordinal);
        Assert.Equal(RunPhase.NotStarted, (await run.GetStatusAsync()).Phase);
        await Assert.ThrowsAsync<InvalidOperationException>(() => fixture.Grains.GetGrain<IRankingSnapshotGrain>("reward-none").GetAsync());
    }

    /// <summary>
    /// A rollback asked for in the middle restores a consistent checkpoint (step 0, the published weights, if it comes
    /// before the first interval) and the replayed steps end where the uninterrupted run ends.
    /// </summary>
    [Fact]
    public async Task Sft_RolledBackMidRun_EndsWithTheWeightsOfTheUninterruptedRun()
    {
        var version = await PublishedBaseAsync();
        var spec = Sft(version, 2, 2, 2) with { CheckpointInterval = 3, Steps = 8, EvalInterval = 0 };
        var (_, _, expectedParameters) = await ReferenceAsync(spec, version);
        var run = fixture.Grains.GetGrain<ITrainingRunGrain>("sft-rollback");

        await run.StartAsync(spec);
        await WaitAsync(run, s => s.Step >= 1 || s.Phase is RunPhase.Completed or RunPhase.Failed);
        await run.RollBackAsync();
        var status = await WaitAsync(run, s => s.Phase is not (RunPhase.Starting or RunPhase.Running or RunPhase.Recovering));

        Assert.True(status.Phase == RunPhase.Completed, $"{status.Phase}: {status.Error}");
        Assert.Equal(1, status.Recoveries);
        output.WriteLine($"rolled back: {status.RecoveryLog[0].FailedAtStep} -> {status.RecoveryLog[0].ResumedFromStep}");
        Assert.Contains(status.RecoveryLog[0].ResumedFromStep, new long[] { 0, 3, 6 });
        AssertClose(expectedParameters, await ParametersAsync(run));
    }

    [Fact]
    public async Task Sft_FromAnUnknownVersion_IsRefusedBeforeAnythingStarts()
    {
        var run = fixture.Grains.GetGrain<ITrainingRunGrain>("sft-unknown");

        var error = await Assert.ThrowsAsync<ArgumentException>(() => run.StartAsync(Sft("never-published", 1, 1, 1)));

        Assert.Contains("Unknown version 'never-published'", error.Message, StringComparison.Ordinal);
        Assert.Equal(RunPhase.NotStarted, (await run.GetStatusAsync()).Phase);
    }

    [Fact]
    public async Task Sft_WithAnotherShapeThanItsVersion_IsRefusedNamingBoth()
    {
        var version = await PublishedBaseAsync();
        var run = fixture.Grains.GetGrain<ITrainingRunGrain>("sft-shape");

        var error = await Assert.ThrowsAsync<ArgumentException>(() => run.StartAsync(Sft(version, 1, 1, 1) with { Layers = 2 }));

        Assert.Contains($"Version '{version}' is 4 layers x 2 heads x 32 wide with a context of 64, but this run asks for 2 x 2 x 32", error.Message, StringComparison.Ordinal);
        Assert.Equal(RunPhase.NotStarted, (await run.GetStatusAsync()).Phase);
    }

    /// <summary>
    /// A trained reward run as a scorer (<see cref="IRewardModelGrain"/>): its raw scores are those of the run's weights
    /// in one process, normalised by the mean and deviation of its training rankings' completions, with the preference
    /// rule's scores beside them; and it refuses what it cannot score, with the reason.
    /// </summary>
    [Fact]
    public async Task RewardModelGrain_ScoresWithTheRunsWeights_NormalisedOnItsTrainingRankings()
    {
        const string runId = "reward-scorer";
        var missing = await Assert.ThrowsAsync<ArgumentException>(() => fixture.Grains.GetGrain<IRewardModelGrain>(runId).GetInfoAsync());
        Assert.Contains("never started", missing.Message, StringComparison.Ordinal);

        var version = await PublishedBaseAsync();
        var spec = Sft(version, 2, 1, 2) with { Objective = "reward", BatchSize = 4, RankingCompletions = 4 };
        var (_, _, parameters) = await TrainAsync(runId, spec);
        var scorer = fixture.Grains.GetGrain<IRewardModelGrain>(runId);
        var info = await scorer.GetInfoAsync();

        // The same weights in one process, and the normalisation and agreements computed here from the same rankings.
        var rankings = Datasets.Rankings(spec);
        var vocabulary = Datasets.Get(spec).Vocabulary;
        var config = TrainingRunSpecs.Model(spec, vocabulary.Count);
        var named = parameters.Select(p => new NamedTensor(p.Key, new TensorMessage(MemoryMarshal.AsBytes(p.Value.Values.AsSpan()).ToArray(), p.Value.Shape))).ToList();
        using var model = InsideLLMs.Distributed.Grains.Inference.InferenceModels.Build(config, StageSpec.Whole(config), named, StageHead.Score);
        var training = rankings.TrainRankings.Take(InsideLLMs.Distributed.Grains.Rlhf.RewardModelGrain.NormalizationRankings).ToArray();
        var normalization = RewardScores.Normalization([.. training.SelectMany(r => RewardScores.Score(model, vocabulary, r.Prompt, r.Completions))]);
        output.WriteLine($"reward model at step {info.Step}: mean {info.Mean:F6}, std {info.Std:F6} over {info.NormalizationSamples} completions; " +
            $"held-out agreement with the annotators {info.AnnotatorAgreement:F3} ({info.AnnotatorPairs} pairs), with the rule {info.RuleAgreement:F3}");
        Assert.Equal(Steps, info.Step);
        Assert.Equal(training.Length * 4, info.NormalizationSamples);
        Assert.Equal(normalization.Mean, info.Mean, 1e-6);
        Assert.Equal(normalization.Std, info.Std, 1e-6);
        Assert.Equal(rankings.ValidationRankings.Count, info.HeldOutRankings);
        Assert.True(info.AnnotatorPairs > 0 && info.RulePairs > 0, "no held-out pairs were compared");

        var held = rankings.ValidationRankings[0];
        var scored = await scorer.ScoreAsync(held.Prompt, held.Completions);
        var expected = RewardScores.Score(model, vocabulary, held.Prompt, held.Completions);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], scored.Raw[i], 1e-5);
            Assert.Equal((scored.Raw[i] - info.Mean) / info.Std, scored.Normalized[i], 1e-9);
            Assert.Equal(PreferenceRule.Default.Score(held.Prompt, held.Completions[i]), scored.Rule[i]);
        }

        Assert.Equal(Enumerable.Range(0, expected.Length).OrderByDescending(i => scored.Normalized[i]), scored.Order);

        // Refused with the reason: a run that is no reward model, nothing or too much to score, a completion past the context.
        var language = await Assert.ThrowsAsync<ArgumentException>(() => fixture.Grains.GetGrain<IRewardModelGrain>("sft-base-run").GetInfoAsync());
        Assert.Contains("objective 'reward'", language.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(() => scorer.ScoreAsync(held.Prompt, []));
        await Assert.ThrowsAsync<ArgumentException>(() => scorer.ScoreAsync(held.Prompt, [.. Enumerable.Repeat("the cat", RewardModelInfo.MaxCompletions + 1)]));
        await Assert.ThrowsAsync<ArgumentException>(() => scorer.ScoreAsync(" ", ["the cat"]));
        var tooLong = await Assert.ThrowsAsync<ArgumentException>(() => scorer.ScoreAsync(held.Prompt, [string.Join(' ', Enumerable.Repeat("the cat sat", 40))]));
        Assert.Contains("context", tooLong.Message, StringComparison.Ordinal);
    }

    private static readonly SemaphoreSlim Publishing = new(1, 1);

    /// <summary>The base model: 3 pre-training steps on the cluster, published once for every test here.</summary>
    private async Task<string> PublishedBaseAsync()
    {
        const string name = "sft-base";
        await Publishing.WaitAsync();
        try
        {
            var version = fixture.Grains.GetGrain<IModelVersionGrain>(name);
            try
            {
                await version.GetInfoAsync();
                return name;
            }
            catch (ArgumentException)
            {
                // not published yet
            }

            var run = fixture.Grains.GetGrain<ITrainingRunGrain>("sft-base-run");
            await run.StartAsync(Base);
            var status = await WaitAsync(run, s => s.Phase is not (RunPhase.Starting or RunPhase.Running or RunPhase.Recovering));
            Assert.True(status.Phase == RunPhase.Completed, $"the base run ended {status.Phase}: {status.Error}");
            await version.PublishAsync("sft-base-run", stages: 1);
            return name;
        }
        finally
        {
            Publishing.Release();
        }
    }

    private async Task<(StepResult[] Steps, double Validation, Dictionary<string, (float[] Values, long[] Shape)> Parameters)> ReferenceAsync(TrainingRunSpec spec, string version)
    {
        var published = await fixture.Grains.GetGrain<IModelVersionGrain>(version).GetParametersAsync();
        var data = Datasets.Get(spec);
        using var trainer = new ReferenceTrainer(
            TrainingRunSpecs.Model(spec, data), data, TrainingRunSpecs.Reference(spec) with { Threads = 1 }, Datasets.Batches(spec));
        trainer.LoadInitialParameters(published.ToDictionary(p => p.Name, p => (p.Tensor.Data, p.Tensor.Shape)));
        var steps = Enumerable.Range(0, spec.Steps).Select(_ => trainer.TrainStep()).ToArray();
        var validation = trainer.Evaluate(spec.EvalBatches);
        var parameters = trainer.Model.named_parameters().ToDictionary(
            p => p.name, p => (MemoryMarshal.Cast<byte, float>(TensorIO.ToBytes(p.parameter)).ToArray(), p.parameter.shape));
        return (steps, validation, parameters);
    }

    private async Task<(RunStatus Status, IReadOnlyList<StepMetrics> History, Dictionary<string, (float[] Values, long[] Shape)> Parameters)> TrainAsync(string runId, TrainingRunSpec spec)
    {
        var run = fixture.Grains.GetGrain<ITrainingRunGrain>(runId);
        await run.StartAsync(spec);
        var status = await WaitAsync(run, s => s.Phase is not (RunPhase.Starting or RunPhase.Running or RunPhase.Recovering));
        Assert.True(status.Phase == RunPhase.Completed, $"run {runId} ended {status.Phase}: {status.Error}");
        Assert.True(status.LastCheckpointStep >= 0, "an sft run keeps its initial weights as the checkpoint of step 0");
        return (status, await run.GetHistoryAsync(0), await ParametersAsync(run));
    }

    private static async Task<Dictionary<string, (float[] Values, long[] Shape)>> ParametersAsync(ITrainingRunGrain run) =>
        (await run.GetParametersAsync()).ToDictionary(p => p.Name, p => (MemoryMarshal.Cast<byte, float>(p.Tensor.Data).ToArray(), p.Tensor.Shape));

    private static async Task<RunStatus> WaitAsync(ITrainingRunGrain run, Func<RunStatus, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        RunStatus status;
        while (!done(status = await run.GetStatusAsync()))
        {
            Assert.True(DateTime.UtcNow < deadline, $"still {status.Phase} at step {status.Step}");
            await Task.Delay(20);
        }

        return status;
    }

    /// <summary>Each step's loss and gradient norm as one process had them (the pre-training equivalence tolerance).</summary>
    private void AssertStepsMatch(StepResult[] expected, IReadOnlyList<StepMetrics> history)
    {
        for (var i = 0; i < Steps; i++)
        {
            output.WriteLine($"step {i + 1}: reference {expected[i].Loss:F6}, cluster {history[i].Loss:F6}; gradient norm {expected[i].GradientNorm:F6} / {history[i].GradientNorm:F6}");
            Assert.True(Math.Abs(expected[i].Loss - history[i].Loss) <= 4e-5 + 1e-5 * Math.Abs(expected[i].Loss), $"loss at step {i + 1}");
            Assert.True(Math.Abs(expected[i].GradientNorm - history[i].GradientNorm) <= 1e-5 + 1e-4 * expected[i].GradientNorm, $"gradient norm at step {i + 1}");
        }
    }

    private static void AssertClose(Dictionary<string, (float[] Values, long[] Shape)> expected, Dictionary<string, (float[] Values, long[] Shape)> actual)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, want) in expected)
        {
            using var got = tensor(actual[name].Values, actual[name].Shape);
            using var reference = tensor(want.Values, want.Shape);
            Assert.True(got.allclose(reference, rtol: 1e-5, atol: 4e-5), $"parameter {name}");
        }
    }
}
