using System.Runtime.InteropServices;
using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Grains.Rlhf;
using InsideLLMs.Distributed.Maths.Rlhf;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Tests.Cluster;

/// <summary>
/// PPO on the cluster computes what one process computes: the policy, value and reference as grains on the silos the
/// placement chose, the reward run's scorer grain, the run grain driving <see cref="PpoLoop"/>, the policy's and value
/// model's updates on stage grains in pipeline stages and data-parallel replicas; against <see cref="PpoTrainer"/> from
/// the same source weights, iteration by iteration and weight by weight.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class PpoClusterTests(ClusterFixture fixture, ITestOutputHelper output)
{
    private static readonly DatasetCache Datasets = new();

    private static readonly TrainingRunSpec Base = new()
    {
        Layers = 2, Heads = 2, Width = 32, Context = 64, Steps = 3, BatchSize = 4, LearningRate = 3e-3, MinLearningRate = 3e-4,
        WarmupSteps = 1, CheckpointInterval = 0, EvalInterval = 0, Seed = 31,
    };

    private static readonly PpoRunSpec Spec = new(
        "ppo-policy-source", "ppo-reward-source", Iterations: 3, Rollouts: 4, Epochs: 2, MiniBatches: 2, PolicyLearningRate: 1e-3, ValueLearningRate: 1e-3,
        KlCoefficient: 0.05, KlTarget: 1, KlHorizon: 100, MaxCompletionTokens: 8, Seed: 5, CheckpointInterval: 2);

    private static readonly SemaphoreSlim Sources = new(1, 1);

    /// <summary>The updates in one stage, in 2 stages × 2 replicas, and in 2 stages × 2 micro-batches: each equals one process.</summary>
    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(2, 2, 1)]
    [InlineData(2, 1, 2)]
    public async Task Ppo_OnTheCluster_MatchesThePpoTrainerFromTheSameWeights(int stages, int replicas, int microBatches)
    {
        await SourcesAsync();
        var run = fixture.Grains.GetGrain<IPpoRunGrain>($"ppo-equivalence-{stages}x{replicas}x{microBatches}");
        var layout = Spec with { Stages = stages, Replicas = replicas, MicroBatches = microBatches };
        var started = await run.StartAsync(layout);
        Assert.Equal(["policy", "value", "reference", "reward"], started.Models.Select(m => m.Role));
        output.WriteLine(string.Join(", ", started.Models.Select(m => $"{m.Role} on {m.Silo}")));
        Assert.True(started.Models.Select(m => m.Silo).Distinct().Count() == 2, "the four models are spread over both silos");
        output.WriteLine("training stages: " + string.Join(", ", started.TrainingStages.Select(m => $"{m.Grain} on {m.Silo}")));
        Assert.Equal((2 * stages * replicas) + stages, started.TrainingStages.Count);
        Assert.Equal(stages * replicas, started.TrainingStages.Count(m => m.Role == "policy"));
        Assert.Equal(stages, started.TrainingStages.Count(m => m.Role == "rollout")); // the inference stages the rollouts are sampled through
        if (stages * replicas > 1)
        {
            Assert.True(started.TrainingStages.Select(m => m.Silo).Distinct().Count() == 2, "the training stages are spread over both silos");
        }

        var status = await WaitAsync(run);
        Assert.True(status.Phase == RunPhase.Completed, $"the PPO run ended {status.Phase}: {status.Error}");
        Assert.Equal([1, 2, 3], status.History.Select(h => h.Iteration));
        Assert.Equal(3, status.LastCheckpointIteration);
        Assert.Empty(status.Recoveries);
        Assert.Equal(4 * 3, status.Samples.Count);

        // The same run in one process: the source runs' weights, the scorer's normalisation, the same options and prompts.
        var policyRun = fixture.Grains.GetGrain<ITrainingRunGrain>(Spec.PolicyRun);
        var policySpec = (await policyRun.GetStatusAsync()).Spec!;
        var vocabulary = Datasets.Get(policySpec).Vocabulary;
        var config = TrainingRunSpecs.Model(policySpec, vocabulary.Count);
        using var reference = new PpoTrainer(
            config, vocabulary, PpoSpecs.Options(Spec) with { Threads = 1 },
            (await policyRun.GetParametersAsync()).ToWeights(),
            (await fixture.Grains.GetGrain<ITrainingRunGrain>(Spec.RewardRun).GetParametersAsync()).ToWeights(),
            new ScoreNormalization(status.NormalizationMean, status.NormalizationStd),
            new PpoPrompts(PpoPrompts.DefaultSeed).At);
        var expected = reference.Run();

        for (var i = 0; i < expected.Count; i++)
        {
            var (want, got) = (expected[i], status.History[i]);
            output.WriteLine($"iteration {want.Iteration}: score {want.MeanScore:F6} / {got.MeanScore:F6}, KL {want.MeanKl:F6} / {got.MeanKl:F6}, " +
                $"policy loss {want.PolicyLoss:F6} / {got.PolicyLoss:F6}, value loss {want.ValueLoss:F6} / {got.ValueLoss:F6}, β {want.KlCoefficient:F6} / {got.KlCoefficient:F6}");
            Assert.Equal(want.MeanTokens, got.MeanTokens); // the same completions were sampled
            Assert.Equal(want.MeanRuleScore, got.MeanRuleScore);
            Assert.Equal(want.MeanScore, got.MeanScore, 1e-4);
            Assert.Equal(want.MeanKl, got.MeanKl, 1e-4);
            Assert.Equal(want.PolicyLoss, got.PolicyLoss, 1e-4);
            Assert.Equal(want.ValueLoss, got.ValueLoss, 1e-4);
            Assert.Equal(want.KlCoefficient, got.KlCoefficient, 1e-6);
            Assert.Equal(want.ExplainedVariance, got.ExplainedVariance, 1e-3);
        }

        Assert.Equal(expected[^1].Samples.Select(s => s.Completion), status.Samples.Where(s => s.Iteration == 3).Select(s => s.Completion));
        var parameters = (await run.GetPolicyParametersAsync()).ToDictionary(p => p.Name, p => p.Tensor);

        // The rollouts were sampled through version ppo.{run}'s inference stages, which hold the policy after its last update.
        var rollout = fixture.Grains.GetGrain<IModelVersionGrain>(InferenceNames.PpoRolloutVersion($"ppo-equivalence-{stages}x{replicas}x{microBatches}"));
        var info = await rollout.GetInfoAsync();
        Assert.Equal((3L, stages, $"ppo:ppo-equivalence-{stages}x{replicas}x{microBatches}"), (info.Step, info.Stages, info.RunId));
        foreach (var p in await rollout.GetParametersAsync())
        {
            Assert.Equal(parameters[p.Name].Data, p.Tensor.Data);
        }

        foreach (var (name, parameter) in reference.Policy.named_parameters())
        {
            var got = parameters[name];
            using var actual = tensor(MemoryMarshal.Cast<byte, float>(got.Data).ToArray(), got.Shape);
            Assert.True(actual.allclose(parameter, rtol: 1e-5, atol: 4e-5), $"policy parameter {name}");
        }

    }

    [Fact]
    public async Task AnActiveRun_RefusesASecondStart_AndStops()
    {
        await SourcesAsync();
        var run = fixture.Grains.GetGrain<IPpoRunGrain>("ppo-busy");
        await run.StartAsync(Spec with { Iterations = 1000 });

        var again = await Assert.ThrowsAsync<InvalidOperationException>(() => run.StartAsync(Spec));
        Assert.Contains("already", again.Message, StringComparison.Ordinal);

        // What a leaving silo asks for: a checkpoint at the end of the iteration in flight (CheckpointInterval is 2 here).
        var asked = (await run.GetStatusAsync()).Iteration;
        var checkpointed = await run.CheckpointNowAsync();
        Assert.InRange(checkpointed, asked + 1, 999);
        Assert.True((await run.GetStatusAsync()).LastCheckpointIteration >= checkpointed, "the asked-for checkpoint is the run's");
        var stopped = await run.StopAsync();

        Assert.Equal(RunPhase.Stopped, stopped.Phase);
        Assert.InRange(stopped.Iteration, 0, 999);
        Assert.Equal(stopped.Iteration, stopped.LastCheckpointIteration); // a stopped run checkpoints the iteration it reached
        Assert.Equal(stopped.Iteration, stopped.History.Count);
        Assert.DoesNotContain("ppo-busy", await fixture.Grains.GetGrain<ITrainingRegistryGrain>(PpoNames.RegistryKey).GetActiveRunsAsync());
    }

    /// <summary>A spec the cluster cannot run is refused with the reason, and the run stays as it was: never started.</summary>
    [Fact]
    public async Task BadSpecs_AreRefusedWithTheReason_AndChangeNothing()
    {
        await SourcesAsync();
        var run = fixture.Grains.GetGrain<IPpoRunGrain>("ppo-refused");

        var swapped = await Assert.ThrowsAsync<ArgumentException>(() => run.StartAsync(Spec with { RewardRun = Spec.PolicyRun }));
        Assert.Contains("objective 'reward'", swapped.Message, StringComparison.Ordinal);
        var rewardAsPolicy = await Assert.ThrowsAsync<ArgumentException>(() => run.StartAsync(Spec with { PolicyRun = Spec.RewardRun }));
        Assert.Contains("starts from a language model", rewardAsPolicy.Message, StringComparison.Ordinal);
        var missing = await Assert.ThrowsAsync<ArgumentException>(() => run.StartAsync(Spec with { PolicyRun = "no-such-run" }));
        Assert.Contains("'no-such-run'", missing.Message, StringComparison.Ordinal);
        var range = await Assert.ThrowsAsync<ArgumentException>(() => run.StartAsync(Spec with { Rollouts = 1 }));
        Assert.Contains("Rollouts must be at least 2", range.Message, StringComparison.Ordinal);
        var interval = await Assert.ThrowsAsync<ArgumentException>(() => run.StartAsync(Spec with { CheckpointInterval = 0 }));
        Assert.Contains("CheckpointInterval", interval.Message, StringComparison.Ordinal);
        var uneven = await Assert.ThrowsAsync<ArgumentException>(() => run.StartAsync(Spec with { Replicas = 3 }));
        Assert.Contains("A minibatch of 2 rollouts (rollouts 4 / miniBatches 2) cannot be cut into replicas 3 x microBatches 1", uneven.Message, StringComparison.Ordinal);
        var deep = await Assert.ThrowsAsync<ArgumentException>(() => run.StartAsync(Spec with { Stages = 3 }));
        Assert.Contains("PPO's stages 3 exceed the model's 2 layers", deep.Message, StringComparison.Ordinal);
        var huge = await Assert.ThrowsAsync<ArgumentException>(() => run.StartAsync(Spec with { Rollouts = 1_000_000, MiniBatches = 1 }));
        Assert.Contains("for stage 0 of the policy's updates alone", huge.Message, StringComparison.Ordinal);
        Assert.Contains("Compute:MemoryBudget", huge.Message, StringComparison.Ordinal);

        var training = fixture.Grains.GetGrain<ITrainingRunGrain>("ppo-source-still-training");
        await training.StartAsync(Base with { Steps = 100_000, CheckpointInterval = 0 });
        try
        {
            var busy = await Assert.ThrowsAsync<InvalidOperationException>(() => run.StartAsync(Spec with { PolicyRun = "ppo-source-still-training" }));
            Assert.Contains("still training", busy.Message, StringComparison.Ordinal);
        }
        finally
        {
            await training.StopAsync();
        }

        var status = await run.GetStatusAsync();
        Assert.Equal(RunPhase.NotStarted, status.Phase);
        Assert.Empty(status.History);
        Assert.DoesNotContain("ppo-refused", await fixture.Grains.GetGrain<ITrainingRegistryGrain>(PpoNames.RegistryKey).GetActiveRunsAsync());
    }

    /// <summary>
    /// A PPO run holds a place among the cluster's active runs, as a training run does: refused while
    /// Training:MaxActiveRuns (2 here) training runs are active, admitted once one stops, and then counted against
    /// training runs; the place is given back when it stops.
    /// </summary>
    [Fact]
    public async Task APpoRun_CountsAgainstTheClustersActiveRuns_LikeATrainingRun()
    {
        await SourcesAsync();
        var (a, b, c) = (Training("ppo-admission-a"), Training("ppo-admission-b"), Training("ppo-admission-c"));
        var run = fixture.Grains.GetGrain<IPpoRunGrain>("ppo-admission");
        var endless = Base with { Steps = 100_000, CheckpointInterval = 0 };
        try
        {
            await a.StartAsync(endless);
            await b.StartAsync(endless);
            var full = await Assert.ThrowsAsync<InvalidOperationException>(() => run.StartAsync(Spec with { Iterations = 1000 }));
            Assert.Equal(
                "The cluster already has 2 active run(s) ('ppo-admission-a', 'ppo-admission-b'), its limit (Training:MaxActiveRuns): stop one, or wait for one to end, before starting PPO run 'ppo-admission'.",
                full.Message);
            Assert.Equal(RunPhase.NotStarted, (await run.GetStatusAsync()).Phase);

            await b.StopAsync();
            Assert.Equal(RunPhase.Running, (await run.StartAsync(Spec with { Iterations = 1000 })).Phase);
            var taken = await Assert.ThrowsAsync<InvalidOperationException>(() => c.StartAsync(endless));
            Assert.StartsWith("The cluster already has 2 active run(s) ('ppo-admission-a', 'ppo:ppo-admission')", taken.Message, StringComparison.Ordinal);

            await run.StopAsync();
            Assert.Equal(RunPhase.Starting, (await c.StartAsync(endless)).Phase);
        }
        finally
        {
            await Task.WhenAll(run.StopAsync(), a.StopAsync(), b.StopAsync(), c.StopAsync());
        }
    }

    private ITrainingRunGrain Training(string id) => fixture.Grains.GetGrain<ITrainingRunGrain>(id);

    /// <summary>The source runs, trained once for every test here: a tiny language model and a reward model on built-in rankings.</summary>
    private async Task SourcesAsync()
    {
        await Sources.WaitAsync();
        try
        {
            await TrainAsync(Spec.PolicyRun, Base);
            var version = fixture.Grains.GetGrain<IModelVersionGrain>("ppo-policy-source");
            try
            {
                await version.GetInfoAsync();
            }
            catch (ArgumentException)
            {
                await version.PublishAsync(Spec.PolicyRun, stages: 1); // a reward run starts from a published model
            }

            await TrainAsync(Spec.RewardRun, Base with { Objective = "reward", InitFrom = "ppo-policy-source", RankingCompletions = 4, Seed = 32 });
        }
        finally
        {
            Sources.Release();
        }
    }

    private async Task TrainAsync(string id, TrainingRunSpec spec)
    {
        var source = fixture.Grains.GetGrain<ITrainingRunGrain>(id);
        if ((await source.GetStatusAsync()).Phase == RunPhase.Completed)
        {
            return;
        }

        await source.StartAsync(spec);
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        RunStatus status;
        while ((status = await source.GetStatusAsync()).Phase is RunPhase.Starting or RunPhase.Running or RunPhase.Recovering)
        {
            Assert.True(DateTime.UtcNow < deadline, $"source run {id} still {status.Phase}");
            await Task.Delay(20);
        }

        Assert.True(status.Phase == RunPhase.Completed, $"source run {id} ended {status.Phase}: {status.Error}");
    }

    private static async Task<PpoRunStatus> WaitAsync(IPpoRunGrain run)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        PpoRunStatus status;
        while ((status = await run.GetStatusAsync()).Phase is RunPhase.Starting or RunPhase.Running or RunPhase.Recovering)
        {
            Assert.True(DateTime.UtcNow < deadline, $"still {status.Phase} at iteration {status.Iteration}");
            await Task.Delay(20);
        }

        return status;
    }
}
