using System.Diagnostics;
using System.Globalization;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Pipeline;
using InsideLLMs.Distributed.Maths.Training;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Benchmarks;

/// <summary>
/// The admission estimate (<see cref="StageMemory"/>) beside what training really takes: each case trains a few steps
/// of one whole-model stage (the stage grains' own <see cref="StageWorker"/>, through the reference trainer) in a
/// fresh process, whose peak resident memory is reset after the dataset is loaded and libtorch has started, so the
/// peak that follows is the model's, its optimizer's and its activations'. Usage: <c>-- memory [--steps N]</c>.
/// </summary>
internal static class MemorySuite
{
    private static readonly (string Name, int Layers, int Heads, int Width, int Context, int Batch)[] Cases =
    [
        ("default model, 16 rows", 4, 4, 128, 64, 16),
        ("default model, 256 rows", 4, 4, 128, 64, 256),
        ("context 256, 64 rows", 4, 4, 128, 256, 64),
        ("8 x 768 wide, 8 rows", 8, 8, 768, 64, 8),
        ("12 x 1024 wide, 4 rows", 12, 16, 1024, 64, 4),
    ];

    public static async Task RunAsync(List<(string, string, string)> results, int steps)
    {
        foreach (var (index, c) in Cases.Index())
        {
            var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
            if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet")
            {
                start.ArgumentList.Add(typeof(MemorySuite).Assembly.Location);
            }

            foreach (var argument in new[] { "memory-probe", index.ToString(CultureInfo.InvariantCulture), steps.ToString(CultureInfo.InvariantCulture) })
            {
                start.ArgumentList.Add(argument);
            }

            Console.WriteLine($"memory: {c.Name} ({c.Layers} layers x {c.Heads} heads x {c.Width}, context {c.Context}), {steps} steps in a fresh process ...");
            using var probe = Process.Start(start)!;
            var output = await probe.StandardOutput.ReadToEndAsync();
            await probe.WaitForExitAsync();
            var line = output.Split('\n').LastOrDefault(l => l.StartsWith("peak ", StringComparison.Ordinal));
            if (probe.ExitCode != 0 || line is null)
            {
                results.Add(("memory", c.Name, $"probe failed (exit {probe.ExitCode}): {output.Trim()}"));
                continue;
            }

            var parts = line.Split(' ');
            var (measured, vocabulary) = (long.Parse(parts[1], CultureInfo.InvariantCulture), int.Parse(parts[2], CultureInfo.InvariantCulture));
            var config = Config(c, vocabulary);
            var estimate = StageMemory.Estimate(config, stages: 1, c.Batch, microBatches: 1, PipelineScheduleKind.OneFOneB)[0];
            var parameters = estimate.Parameters.ToString("N0", CultureInfo.InvariantCulture);
            results.Add(("memory", $"{c.Name}, {parameters} parameters: estimate / peak", $"{StageMemory.Format(estimate.TotalBytes)} / {StageMemory.Format(measured)} = {(double)estimate.TotalBytes / measured:F2}"));
            results.Add(("memory", $"  of the estimate: fixed / state / activations / logits", $"{StageMemory.Format(StageMemory.OverheadBytes)} / {StageMemory.Format(estimate.StateBytes)} / {StageMemory.Format(estimate.ActivationBytes)} / {StageMemory.Format(estimate.LogitBytes)}"));
        }
    }

    /// <summary>The child process: trains case <paramref name="index"/> and prints "peak BYTES VOCABULARY".</summary>
    public static int Probe(string[] args)
    {
        var c = Cases[int.Parse(args[1], CultureInfo.InvariantCulture)];
        var steps = int.Parse(args[2], CultureInfo.InvariantCulture);
        set_num_threads(Math.Min(2, Environment.ProcessorCount));
        var data = TrainingPreset.LoadDataset(TrainingPreset.SyntheticCorpusName, "gpt2", c.Context, seed: 1);
        using (var warm = ones(64, 64))
        {
            using var product = warm.matmul(warm); // libtorch's own start-up allocations belong to the baseline
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        var baseline = Status("VmRSS");
        File.WriteAllText("/proc/self/clear_refs", "5"); // resets VmHWM to the current resident size
        var options = new TrainingOptions { Steps = steps, BatchSize = c.Batch, MicroBatches = 1, WarmupSteps = 1, EvalInterval = 0 };
        using (var trainer = new ReferenceTrainer(Config(c, data.Vocabulary.Count), data, options))
        {
            for (var step = 0; step < steps; step++)
            {
                trainer.TrainStep();
            }
        }

        Console.WriteLine($"peak {Status("VmHWM") - baseline} {data.Vocabulary.Count}");
        return 0;
    }

    private static GptConfig Config((string Name, int Layers, int Heads, int Width, int Context, int Batch) c, int vocabulary) =>
        new() { VocabularySize = vocabulary, BlockSize = c.Context, LayerCount = c.Layers, HeadCount = c.Heads, EmbeddingSize = c.Width };

    /// <summary>A field of /proc/self/status in bytes ("VmRSS:   123456 kB").</summary>
    private static long Status(string field)
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }
}
