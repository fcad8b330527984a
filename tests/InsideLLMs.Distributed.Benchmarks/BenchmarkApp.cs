using System.Diagnostics;
using System.Globalization;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Rlhf;
using InsideLLMs.Distributed.Maths.Sampling;
using InsideLLMs.Distributed.Maths.Tokenization;
using InsideLLMs.Distributed.Maths.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Benchmarks;

/// <summary>
/// Benchmark suites that print their figures side by side in one run (these machines are noisy: compare within a run).
/// Usage: dotnet run -c Release --project tests/InsideLLMs.Distributed.Benchmarks -- [throughput|synthetic|shakespeare|distributed|stress|page|memory|sft|reward|ppo|ppo-cluster|all]
///        [--steps N] [--threads N] [--corpus PATH]; synthetic: [--batch-size B]; stress: [--minutes M] [--silos N] [--no-heap-checks];
///        page: [--seconds S] [--pages 1,4]; memory: [--steps N]; sft: [--pretrain-steps N] [--steps N (SFT)] [--lr X (SFT)] [--instructions N] [--cache DIR (keeps the pre-trained base)];
///        reward: [--pretrain-steps N] [--sft-steps N] [--prompts N] [--steps N (reward model)] [--lr X (reward model)] [--cache DIR] [--temperature T or T1,T2 (of the ranked samples)]
///        [--noise 0,0.2 (annotators)] [--built-in N (built-in rankings added)] [--weight-decay X] [--eval-every N (steps)] [--batch-size B (rows)]
///        [--mixed M (a ranking more per training prompt, M of its completions other prompts')] [--fresh-init] [--reward-width C [--reward-layers L]] [--contrast (diagnostic)];
///        ppo: [--pretrain-steps N] [--sft-steps N] [--prompts N] [--reward-steps N] [--reward-lr X] [--noise X] [--iterations N] [--rollouts N] [--epochs N]
///        [--minibatches N] [--policy-lr X] [--value-lr X] [--kl X] [--kl-target X] [--kl-horizon N] [--eval-prompts N] [--eval-every N] [--rank-temperature T] [--cache DIR] [--curves DIR];
///        ppo-cluster: [--iterations N (timed)]
/// </summary>
internal static class BenchmarkApp
{
    public static async Task<int> RunAsync(string[] args)
    {
        var suite = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal)) ?? "throughput";
        var steps = IntOption(args, "--steps");
        var threads = IntOption(args, "--threads") ?? Environment.ProcessorCount;
        var batchSize = IntOption(args, "--batch-size");
        var corpus = StringOption(args, "--corpus") ?? FindShakespeare();
        var results = new List<(string Suite, string Figure, string Value)>();
        var exitCode = 0;
        Console.WriteLine($"InsideLLMs benchmarks: suite {suite}, {threads} threads, {Environment.ProcessorCount} cores, TorchSharp {typeof(torch).Assembly.GetName().Version}");
        switch (suite)
        {
            case "throughput":
                Throughput(results, threads, corpus, steps ?? 40);
                break;
            case "synthetic":
                Synthetic(results, threads, steps, batchSize);
                break;
            case "shakespeare":
                Shakespeare(results, threads, corpus, steps);
                break;
            case "distributed":
                await DistributedBenchmark.RunAsync(results, steps ?? 30);
                break;
            case "stress":
                exitCode = await StressSuite.RunAsync(results, args);
                if (exitCode == 2)
                {
                    return 2;
                }

                break;
            case "page":
                exitCode = await PageSuite.RunAsync(results, args);
                if (exitCode == 2)
                {
                    return 2;
                }

                break;
            case "memory":
                await MemorySuite.RunAsync(results, steps ?? 3);
                break;
            case "sft":
                SftSuite.Run(
                    results, threads, IntOption(args, "--pretrain-steps") ?? 2400, steps ?? 300, IntOption(args, "--instructions") ?? 128,
                    StringOption(args, "--lr") is { } lr ? double.Parse(lr, CultureInfo.InvariantCulture) : 1e-3, StringOption(args, "--cache"));
                break;
            case "reward":
                RewardSuite.Run(results, threads, new RewardSuiteOptions(
                    IntOption(args, "--pretrain-steps") ?? 2400, IntOption(args, "--sft-steps") ?? 300, IntOption(args, "--prompts") ?? 800,
                    steps ?? 300, DoubleOption(args, "--lr") ?? RewardSuite.DefaultRewardLearningRate, StringOption(args, "--cache"), DoubleList(args, "--temperature") ?? [1.0],
                    DoubleList(args, "--noise") ?? [0, 0.2],
                    IntOption(args, "--built-in") ?? 0, DoubleOption(args, "--weight-decay"), IntOption(args, "--eval-every") ?? 0, batchSize ?? 16, IntOption(args, "--mixed") ?? 0, args.Contains("--fresh-init"),
                    IntOption(args, "--reward-width") is { } width ? (width, IntOption(args, "--reward-layers") ?? 4) : null,
                    args.Contains("--contrast")));
                break;
            case "ppo":
                PpoSuite.Run(
                    results, threads, IntOption(args, "--pretrain-steps") ?? 600, IntOption(args, "--sft-steps") ?? 300, IntOption(args, "--prompts") ?? 800,
                    IntOption(args, "--reward-steps") ?? 300, DoubleOption(args, "--noise") ?? 0,
                    new PpoOptions
                    {
                        Iterations = IntOption(args, "--iterations") ?? 200,
                        Rollouts = IntOption(args, "--rollouts") ?? 16,
                        Epochs = IntOption(args, "--epochs") ?? 4,
                        MiniBatches = IntOption(args, "--minibatches") ?? 2,
                        PolicyLearningRate = DoubleOption(args, "--policy-lr") ?? 2e-5,
                        ValueLearningRate = DoubleOption(args, "--value-lr") ?? 1e-4,
                        KlCoefficient = DoubleOption(args, "--kl") ?? 0.1,
                        KlTarget = DoubleOption(args, "--kl-target"),
                        KlHorizon = DoubleOption(args, "--kl-horizon") ?? 10_000,
                    }.Validate(),
                    IntOption(args, "--eval-prompts") ?? 200, IntOption(args, "--eval-every") ?? 0, StringOption(args, "--cache"), StringOption(args, "--curves"), DoubleOption(args, "--rank-temperature") ?? 1.0,
                    DoubleOption(args, "--reward-lr") ?? RewardSuite.DefaultRewardLearningRate);
                break;
            case "ppo-cluster":
                await PpoClusterBenchmark.RunAsync(results, IntOption(args, "--iterations") ?? 8);
                break;
            case "profile":
                Profile(threads, steps ?? 400);
                break;
            case "all":
                Throughput(results, threads, corpus, 40);
                Synthetic(results, threads, steps, batchSize);
                Shakespeare(results, threads, corpus, steps);
                break;
            default:
                Console.Error.WriteLine($"Unknown suite '{suite}'. Suites: throughput, synthetic, shakespeare, distributed, stress, page, memory, sft, reward, ppo, ppo-cluster, all.");
                return 2;
        }

        Console.WriteLine();
        Console.WriteLine($"{"suite",-12} {"figure",-52} value");
        foreach (var (name, figure, value) in results)
        {
            Console.WriteLine($"{name,-12} {figure,-52} {value}");
        }

        return exitCode;
    }

    /// <summary>
    /// The trainer's achieved GFLOP/s next to plain matrix multiplies on the same threads: a large square one (near
    /// what libtorch can reach here) and one shaped like the model's MLP (what its sizes allow).
    /// </summary>
    private static void Throughput(List<(string, string, string)> results, int threads, string corpus, int steps)
    {
        torch.set_num_threads(threads);
        var square = MatmulGflops(1024, 1024, 1024, repeats: 20);
        results.Add(("throughput", "matmul 1024x1024x1024 fp32, GFLOP/s", F(square)));
        var mlpShaped = MatmulGflops(16 * 64, 128, 512, repeats: 200);
        results.Add(("throughput", "matmul 1024x128x512 (the MLP's shape), GFLOP/s", F(mlpShaped)));

        foreach (var preset in new[] { TrainingPresets.Synthetic, TrainingPresets.ShakespeareChar(corpus) })
        {
            var (data, model) = preset.Load();
            using var trainer = new ReferenceTrainer(model, data, preset.Training with { Threads = threads, Steps = steps + 5 });
            for (var i = 0; i < 5; i++)
            {
                trainer.TrainStep(); // warm-up: first steps allocate
            }

            var time = TimeSpan.Zero;
            long tokens = 0;
            for (var i = 0; i < steps; i++)
            {
                var step = trainer.TrainStep();
                time += step.Duration;
                tokens += step.Tokens;
            }

            var tokensPerSecond = tokens / time.TotalSeconds;
            var gflops = tokensPerSecond * model.TrainingFlopsPerToken / 1e9;
            results.Add(("throughput", $"trainer {preset.Name}: tokens/s", F(tokensPerSecond, 0)));
            results.Add(("throughput", $"trainer {preset.Name}: GFLOP/s (6N+12LTC per token)", F(gflops)));
            results.Add(("throughput", $"trainer {preset.Name}: / square matmul, / MLP-shaped matmul", $"{gflops / square:P0}, {gflops / mlpShaped:P0}"));
        }
    }

    /// <summary>Time per block of 50 steps over a run: shows whether steps slow down as training goes on.</summary>
    private static void Profile(int threads, int steps)
    {
        var preset = TrainingPresets.Synthetic;
        var (data, model) = preset.Load();
        using var trainer = new ReferenceTrainer(model, data, preset.Training with { Threads = threads, Steps = steps });
        var block = TimeSpan.Zero;
        for (var i = 1; i <= steps; i++)
        {
            block += trainer.TrainStep().Duration;
            if (i % 50 == 0)
            {
                Console.WriteLine($"steps {i - 49}-{i}: {block.TotalMilliseconds / 50:F1} ms/step");
                block = TimeSpan.Zero;
            }
        }
    }

    /// <summary>
    /// The synthetic preset (16 rows a step unless <paramref name="batchSize"/> says otherwise; the silo's default
    /// run takes 32), its loss against the floor, and what it makes of the walkthrough's default prompt.
    /// </summary>
    private static void Synthetic(List<(string, string, string)> results, int threads, int? steps, int? batchSize)
    {
        var preset = TrainingPresets.Synthetic;
        var training = preset.Training with
        {
            Threads = threads, Steps = steps ?? preset.Training.Steps, EvalInterval = 250, BatchSize = batchSize ?? preset.Training.BatchSize,
        };
        var prompt = new List<(string, string, string)>();
        var summary = Train(preset with { Training = training }, trainer => prompt.AddRange(DefaultPrompt(trainer)));
        var floor = summary.EntropyFloor!.Value;
        results.Add(("synthetic", $"steps x tokens per step", $"{summary.Steps} x {training.BatchSize * preset.Model.BlockSize}"));
        results.Add(("synthetic", "validation loss (nats/token)", F(summary.ValidationLoss!.Value, 4)));
        results.Add(("synthetic", "entropy floor of the validation documents", F(floor, 4)));
        results.Add(("synthetic", "validation loss / floor", F(summary.ValidationLoss!.Value / floor, 3)));
        results.Add(("synthetic", "wall time (training + validation)", $"{summary.Elapsed.TotalSeconds:F0} s"));
        results.Add(("synthetic", "tokens/s", F(summary.TokensPerSecond, 0)));
        results.AddRange(prompt);
    }

    /// <summary>
    /// The walkthrough's default prompt after training, as the page sends it (nothing before it, while every training
    /// window starts with an end-of-document token) and after that token: the model's probability of the two
    /// continuations the grammar allows (" 2017" 2/3, " the" 1/3) and its greedy completion.
    /// </summary>
    private static List<(string, string, string)> DefaultPrompt(ReferenceTrainer trainer)
    {
        var vocabulary = trainer.Data.Vocabulary;
        var typed = vocabulary.EncodeText(SyntheticGrammar.HistoryOpening);
        int[] afterEnd = [ModelVocabulary.EndOfDocument, .. typed];
        var year = vocabulary.EncodeText(" 2017").Single();
        var the = vocabulary.EncodeText(" the").Single();
        var figures = new List<(string, string, string)>();
        foreach (var (name, prompt) in new[] { ("prompt as typed", typed), ("prompt after <eod>", afterEnd) })
        {
            var next = NextToken(trainer.Model, prompt);
            figures.Add(("synthetic", $"{name}: p(\" 2017\"), p(\" the\") next (grammar 0.667, 0.333)", $"{F(next[year], 3)}, {F(next[the], 3)}"));
            var completion = new List<int>();
            foreach (var token in TextGenerator.Generate(trainer.Model, prompt, new SamplingOptions(Greedy: true), maxTokens: 32))
            {
                completion.Add(token.Id);
                if (token.Id == ModelVocabulary.EndOfDocument)
                {
                    break;
                }
            }

            figures.Add(("synthetic", $"{name}: greedy completion", string.Concat(completion.Select(vocabulary.Describe))));
        }

        return figures;
    }

    /// <summary>The model's next-token distribution after the whole prompt.</summary>
    private static double[] NextToken(GptStage model, int[] prompt)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        model.eval();
        var logits = model.Forward(tensor(prompt.Select(id => (long)id).ToArray(), [1, prompt.Length], dtype: ScalarType.Int64)); // (1, T, V)
        return Sampler.Softmax(logits[0, -1].to(ScalarType.Float32).data<float>().ToArray()); // (V)
    }

    private static void Shakespeare(List<(string, string, string)> results, int threads, string corpus, int? steps)
    {
        var preset = TrainingPresets.ShakespeareChar(corpus);
        var training = preset.Training with { Threads = threads, Steps = steps ?? preset.Training.Steps, EvalInterval = 500 };
        var summary = Train(preset with { Training = training });
        results.Add(("shakespeare", "iterations x batch x context", $"{summary.Steps} x {training.BatchSize} x {preset.Model.BlockSize}"));
        results.Add(("shakespeare", "validation loss (whole validation split)", F(summary.ValidationLoss!.Value, 4)));
        results.Add(("shakespeare", "nanoGPT's reported validation loss", "1.88"));
        results.Add(("shakespeare", "wall time (training + validation)", $"{summary.Elapsed.TotalSeconds:F0} s"));
        results.Add(("shakespeare", "tokens/s", F(summary.TokensPerSecond, 0)));
    }

    /// <param name="trained">Runs on the trained model before the trainer is disposed.</param>
    private static TrainingSummary Train(TrainingPreset preset, Action<ReferenceTrainer>? trained = null)
    {
        var loadStarted = Stopwatch.GetTimestamp();
        var (data, model) = preset.Load();
        Console.WriteLine($"[{preset.Name}] {preset.Description}: vocabulary {data.Vocabulary.Count}, {model.ParameterCount:N0} parameters, dataset built in {Stopwatch.GetElapsedTime(loadStarted).TotalSeconds:F1} s");
        using var trainer = new ReferenceTrainer(model, data, preset.Training);
        var progress = new InlineProgress<TrainingProgress>(p =>
        {
            if (p.Step % 100 == 0 || p.Step == p.TotalSteps)
            {
                var validation = p.ValidationLoss is { } v ? $" val {v:F4}" : "";
                Console.WriteLine($"[{preset.Name}] step {p.Step}/{p.TotalSteps} loss {p.Loss:F4}{validation} {p.TokensPerSecond:F0} tok/s ETA {p.Remaining:mm\\:ss}");
            }
        });
        var summary = trainer.Run(progress);
        trained?.Invoke(trainer);
        return summary;
    }

    private static double MatmulGflops(int m, int k, int n, int repeats)
    {
        using var scope = NewDisposeScope();
        var a = randn(m, k);
        var b = randn(k, n);
        a.matmul(b).Dispose(); // warm-up
        var best = double.MaxValue;
        for (var i = 0; i < repeats; i++)
        {
            var started = Stopwatch.GetTimestamp();
            a.matmul(b).Dispose();
            best = Math.Min(best, Stopwatch.GetElapsedTime(started).TotalSeconds);
        }

        return 2.0 * m * k * n / best / 1e9;
    }

    private static string FindShakespeare()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "InsideLLMs.Distributed.sln")))
            {
                return Path.GetFullPath(Path.Combine(directory.FullName, "..", "shared", "data", "tinyshakespeare.txt"));
            }
        }

        return "tinyshakespeare.txt";
    }

    private static int? IntOption(string[] args, string name) =>
        StringOption(args, name) is { } value ? int.Parse(value, CultureInfo.InvariantCulture) : null;

    private static double[]? DoubleList(string[] args, string name) =>
        StringOption(args, name) is { } list ? [.. list.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture))] : null;

    private static double? DoubleOption(string[] args, string name) =>
        StringOption(args, name) is { } text ? double.Parse(text, CultureInfo.InvariantCulture) : null;

    private static string? StringOption(string[] args, string name)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
    }

    private static string F(double value, int decimals = 1) => value.ToString("F" + decimals, CultureInfo.InvariantCulture);
}
