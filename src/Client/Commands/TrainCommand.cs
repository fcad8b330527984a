using System.CommandLine;
using System.Globalization;
using InsideLLMs.Distributed.Client.Cli;
using InsideLLMs.Distributed.Maths.Training;
using Spectre.Console;

namespace InsideLLMs.Distributed.Client.Commands;

/// <summary>
/// <c>train --local [options]</c>: trains in this process with the reference trainer, showing step, loss, tokens/s
/// and ETA. Every setting is checked, and a checkpoint to resume from is read and verified, before the first step.
/// </summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var local = new Option<bool>("--local") { Description = "Train in this process with the reference trainer (no cluster)." };
        var preset = new Option<string>("--preset")
        {
            Description = "Starting point: synthetic (the built-in grammar, GPT-2 tokens) or shakespeare-char (nanoGPT's CPU run; needs --corpus).",
            DefaultValueFactory = _ => TrainingPresets.Synthetic.Name,
            HelpName = "name",
        };
        preset.CompletionSources.Add(TrainingPresets.Synthetic.Name, "shakespeare-char");
        var threads = new Option<int?>("--threads") { Description = "libtorch threads (default: all cores)." };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "Write checkpoints to this file.", HelpName = "path" };
        var resume = new Option<string?>("--resume") { Description = "Continue the run saved in this checkpoint.", HelpName = "path" };
        var training = new TrainingOptionSet();

        var command = new Command("train", "Train the GPT: --local in this process, or start, watch, stop and trace a run on the cluster.")
        {
            local, preset, threads, checkpoint, resume,
        };
        foreach (var option in training.All)
        {
            command.Options.Add(option);
        }

        foreach (var clusterVerb in TrainClusterCommands.Create())
        {
            command.Subcommands.Add(clusterVerb);
        }

        command.SetCliAction(async (cli, cancellationToken) =>
        {
            if (!cli.GetValue(local))
            {
                throw new CliUsageException("Say where to train: --local trains in this process; 'train start' starts a run on the cluster (also: watch, stop, trace).");
            }

            var request = new LocalTrainingRequest(
                cli.GetValue(preset)!, training.Read(cli), cli.GetValue(threads), cli.GetValue(checkpoint), cli.GetValue(resume));
            return await RunLocalAsync(cli, request, cancellationToken);
        });
        return command;
    }

    private static async Task<int> RunLocalAsync(CliContext cli, LocalTrainingRequest request, CancellationToken cancellationToken)
    {
        using var trainer = LocalTraining.Prepare(request);
        var options = trainer.Options;
        if (!cli.Json)
        {
            cli.Console.MarkupLine(string.Create(CultureInfo.InvariantCulture,
                $"[bold]Training locally[/]: {trainer.Config.LayerCount} layers x {trainer.Config.HeadCount} heads x {trainer.Config.EmbeddingSize} wide, context {trainer.Config.BlockSize}, vocabulary {trainer.Config.VocabularySize}, {trainer.Config.ParameterCount:N0} parameters; {options.BatchSize} x {options.MicroBatches} rows per step, {options.Threads} threads{(trainer.Step > 0 ? $"; resuming at step {trainer.Step}" : "")}."));
        }

        var job = new ProgressJob("train", options.Steps, Unit: "step", RateUnit: "tok");
        var summary = await new ProgressReporter(cli).RunAsync(job, (progress, token) => Task.Run(
            () =>
            {
                long tokens = 0;
                var tokensPerStep = (long)options.BatchSize * options.MicroBatches * trainer.Config.BlockSize;
                return trainer.Run(
                    new InlineProgress<TrainingProgress>(p =>
                    {
                        tokens += tokensPerStep;
                        var validation = p.ValidationLoss is { } v ? string.Create(CultureInfo.InvariantCulture, $" · val {v:F4}") : "";
                        progress.Report(new ProgressSnapshot(
                            p.Step, tokens, string.Create(CultureInfo.InvariantCulture, $"loss {p.Loss:F4}{validation}")));
                    }),
                    request.CheckpointPath ?? request.Resume,
                    token);
            },
            token), cancellationToken);

        var result = new LocalTrainingResult(
            summary.Steps, summary.FinalLoss, summary.ValidationLoss, summary.EntropyFloor,
            summary.ValidationLoss is { } val && summary.EntropyFloor is { } floor ? val / floor : null,
            summary.Tokens, summary.Elapsed.TotalSeconds, summary.TokensPerSecond, summary.GigaflopsPerSecond,
            request.CheckpointPath ?? request.Resume,
            [.. summary.ValidationHistory.Select(h => new ValidationPoint(h.Step, h.Loss))]);
        if (cli.Json)
        {
            cli.WriteJson(result);
            return ExitCodes.Success;
        }

        var table = new Table().AddColumn("Figure").AddColumn(new TableColumn("Value").RightAligned());
        table.AddRow("steps", result.Steps.ToString("N0", CultureInfo.InvariantCulture));
        table.AddRow("training loss (last step)", result.TrainingLoss.ToString("F4", CultureInfo.InvariantCulture));
        table.AddRow("validation loss", result.ValidationLoss?.ToString("F4", CultureInfo.InvariantCulture) ?? "-");
        if (result.EntropyFloor is { } f)
        {
            table.AddRow("entropy floor (validation documents)", f.ToString("F4", CultureInfo.InvariantCulture));
            table.AddRow("validation / floor", result.LossOverFloor!.Value.ToString("F3", CultureInfo.InvariantCulture));
        }

        table.AddRow("tokens/s (training steps)", result.TokensPerSecond.ToString("N0", CultureInfo.InvariantCulture));
        table.AddRow("GFLOP/s", result.GigaflopsPerSecond.ToString("F1", CultureInfo.InvariantCulture));
        table.AddRow("wall time", $"{result.Seconds:F1} s");
        if (result.Checkpoint is not null)
        {
            table.AddRow("checkpoint", Markup.Escape(result.Checkpoint));
        }

        cli.Console.Write(table);
        return ExitCodes.Success;
    }
}

internal sealed record ValidationPoint(long Step, double Loss);

internal sealed record LocalTrainingResult(
    long Steps,
    double TrainingLoss,
    double? ValidationLoss,
    double? EntropyFloor,
    double? LossOverFloor,
    long Tokens,
    double Seconds,
    double TokensPerSecond,
    double GigaflopsPerSecond,
    string? Checkpoint,
    IReadOnlyList<ValidationPoint> ValidationHistory);
