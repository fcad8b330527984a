using System.Diagnostics;
using System.Globalization;
using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Grains.Rlhf;
using InsideLLMs.Distributed.Maths.Rlhf;

namespace InsideLLMs.Distributed.Benchmarks;

/// <summary>
/// Where a PPO iteration's time goes on the cluster against one process, with the same thread budget (2 libtorch
/// threads): the synthetic preset's model (4 layers × 128) as policy and reward model (sources trained briefly on the
/// cluster: the timing does not depend on their quality), 16 rollouts of up to 24 tokens, 4 epochs × 2 minibatches. One
/// process: <see cref="PpoTrainer"/>. The cluster: one in-process silo with two compute workers, the rollouts through the
/// inference stage grains and the updates on the training stage grains, in (stages, replicas) = (1,1), (2,1), (2,2).
/// Iterations 1..warm-up are left out.
/// </summary>
internal static class PpoClusterBenchmark
{
    private const int WarmupIterations = 2;
    private const int ThreadBudget = 2;

    private static readonly (int Stages, int Replicas)[] Layouts = [(1, 1), (2, 1), (2, 2)];

    private static readonly TrainingRunSpec Source = new()
    {
        Corpus = "synthetic", Layers = 4, Heads = 4, Width = 128, Context = 64, BatchSize = 8, Steps = 30, LearningRate = 2e-3,
        MinLearningRate = 2e-4, WarmupSteps = 5, CheckpointInterval = 0, EvalInterval = 0, Seed = 1337,
    };

    public static async Task RunAsync(List<(string, string, string)> results, int timedIterations)
    {
        var iterations = WarmupIterations + timedIterations;
        await using var cluster = DistributedBenchmark.OneSilo(ThreadBudget);
        await cluster.DeployAsync();
        var grains = cluster.Client;

        Console.WriteLine("[ppo-cluster] training the source runs (the policy: 30 pre-training steps; the reward model: 30 steps on the built-in rankings)");
        await TrainAsync(grains, "bench-policy", Source);
        await grains.GetGrain<IModelVersionGrain>("bench-policy").PublishAsync("bench-policy", stages: 1);
        await TrainAsync(grains, "bench-reward", Source with { Objective = "reward", InitFrom = "bench-policy", RankingCompletions = 4, BatchSize = 16 });

        var spec = new PpoRunSpec("bench-policy", "bench-reward", Iterations: iterations, CheckpointInterval: iterations);
        var rows = new List<(string Host, PpoIterationView[] Iterations)>();

        // One process from the same weights and normalisation, with the whole budget.
        var reward = await grains.GetGrain<IRewardModelGrain>(spec.RewardRun).GetInfoAsync();
        var policySpec = (await grains.GetGrain<ITrainingRunGrain>(spec.PolicyRun).GetStatusAsync()).Spec!;
        var vocabulary = new DatasetCache().Get(policySpec).Vocabulary;
        using (var trainer = new PpoTrainer(
            TrainingRunSpecs.Model(policySpec, vocabulary.Count), vocabulary, PpoSpecs.Options(spec) with { Threads = ThreadBudget },
            (await grains.GetGrain<ITrainingRunGrain>(spec.PolicyRun).GetParametersAsync()).ToWeights(),
            (await grains.GetGrain<ITrainingRunGrain>(spec.RewardRun).GetParametersAsync()).ToWeights(),
            new ScoreNormalization(reward.Mean, reward.Std), new PpoPrompts(PpoPrompts.DefaultSeed).At))
        {
            var measured = new List<PpoIterationView>();
            for (var i = 0; i < iterations; i++)
            {
                measured.Add(trainer.Step().ToView());
            }

            rows.Add(("one process", [.. measured.Skip(WarmupIterations)]));
            Console.WriteLine($"[ppo-cluster] one process: {measured.Skip(WarmupIterations).Average(m => m.WallSeconds):F2} s an iteration");
        }

        foreach (var (stages, replicas) in Layouts)
        {
            var run = grains.GetGrain<IPpoRunGrain>($"bench-ppo-{stages}x{replicas}");
            var clock = Stopwatch.StartNew();
            await run.StartAsync(spec with { Stages = stages, Replicas = replicas });
            PpoRunStatus status;
            while ((status = await run.GetStatusAsync()).Phase is RunPhase.Starting or RunPhase.Running or RunPhase.Recovering)
            {
                if (clock.Elapsed > TimeSpan.FromMinutes(20))
                {
                    throw new TimeoutException($"PPO run {stages}x{replicas} still {status.Phase} at iteration {status.Iteration}.");
                }

                await Task.Delay(200);
            }

            if (status.Phase != RunPhase.Completed)
            {
                throw new InvalidOperationException($"PPO run {stages}x{replicas} ended {status.Phase}: {status.Error}");
            }

            var host = $"cluster ({stages} stage{(stages > 1 ? "s" : "")} x {replicas} replica{(replicas > 1 ? "s" : "")})";
            rows.Add((host, [.. status.History.Skip(WarmupIterations)]));
            Console.WriteLine($"[ppo-cluster] {host}: {status.History.Skip(WarmupIterations).Average(m => m.WallSeconds):F2} s an iteration");
        }

        Console.WriteLine();
        Console.WriteLine($"PPO iteration, synthetic model 4 layers x 4 heads x 128, 16 rollouts of up to 24 tokens, 4 epochs x 2 minibatches; budget {ThreadBudget} libtorch threads; mean of {timedIterations} iterations after {WarmupIterations}");
        Console.WriteLine($"{"where",-34} {"wall s",7} {"x one",6} {"sample",7} {"reward",7} {"ref.",7} {"value",7} {"update",7}");
        var baseline = rows[0].Iterations.Average(i => i.WallSeconds);
        foreach (var (host, measured) in rows)
        {
            var wall = measured.Average(i => i.WallSeconds);
            Console.WriteLine(
                $"{host,-34} {F(wall),7} {F(wall / baseline),6} {F(measured.Average(i => i.GenerationSeconds)),7} {F(measured.Average(i => i.RewardSeconds)),7} " +
                $"{F(measured.Average(i => i.ReferenceSeconds)),7} {F(measured.Average(i => i.ValueSeconds)),7} {F(measured.Average(i => i.UpdateSeconds)),7}");
            results.Add(("ppo-cluster", $"{host}: s an iteration (x one process); sample / reward / reference / value / update",
                $"{F(wall)} ({F(wall / baseline)}); {F(measured.Average(i => i.GenerationSeconds))} / {F(measured.Average(i => i.RewardSeconds))} / {F(measured.Average(i => i.ReferenceSeconds))} / {F(measured.Average(i => i.ValueSeconds))} / {F(measured.Average(i => i.UpdateSeconds))}"));
        }

        Console.WriteLine("sample: the rollouts and their log-probabilities; reward, reference and value run at once (they overlap); update: the policy's and the value model's at once, with the weights handed to the model grains and the rollout version.");
    }

    private static async Task TrainAsync(IGrainFactory grains, string id, TrainingRunSpec spec)
    {
        var run = grains.GetGrain<ITrainingRunGrain>(id);
        await run.StartAsync(spec);
        RunStatus status;
        while ((status = await run.GetStatusAsync()).Phase is RunPhase.Starting or RunPhase.Running or RunPhase.Recovering)
        {
            await Task.Delay(200);
        }

        if (status.Phase != RunPhase.Completed)
        {
            throw new InvalidOperationException($"Source run {id} ended {status.Phase}: {status.Error}");
        }
    }

    private static string F(double value) => value.ToString("F2", CultureInfo.InvariantCulture);
}
