using System.CommandLine;
using System.Globalization;
using InsideLLMs.Distributed.Client.Cli;
using InsideLLMs.Distributed.Client.Cluster;
using InsideLLMs.Distributed.Contracts.Training;
using Spectre.Console;

namespace InsideLLMs.Distributed.Client.Commands;

/// <summary>
/// <c>train start|watch|stop|trace</c>: distributed training on the cluster, through the run grain of <c>--run</c>
/// (default "default").
/// </summary>
internal static class TrainClusterCommands
{
    /// <summary>How often watch asks for news: a step of the default model takes about a second on two cores.</summary>
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    private static readonly TrainingRunSpec Defaults = new();

    public static IEnumerable<Command> Create() => [Start(), Watch(), Stop(), Trace()];

    /// <summary>
    /// The spec, checked here with the silo's own checks before any connection, so bad input costs nothing (the run
    /// grain checks it again, with the corpus and the memory the run would take). A corpus file is named as the silos
    /// see it: relative to their data directory (<c>Data:Directory</c>).
    /// </summary>
    /// <exception cref="CliUsageException">The first bad value, named.</exception>
    internal static TrainingRunSpec ClusterSpec(
        TrainingChoices choices, int? stages, int? replicas, string? schedule, string? objective = null, string? initFrom = null, string? instructions = null,
        string? rankings = null, int? rankingCompletions = null, string? resumeFrom = null)
    {
        var spec = choices.ApplyTo(Defaults) with
        {
            Stages = stages ?? Defaults.Stages,
            Replicas = replicas ?? Defaults.Replicas,
            Schedule = (schedule ?? Defaults.Schedule).Trim().ToLowerInvariant(),
            Objective = (objective ?? Defaults.Objective).Trim().ToLowerInvariant(),
            InitFrom = initFrom,
            Instructions = instructions,
            Rankings = rankings?.Trim().ToLowerInvariant(),
            RankingCompletions = rankingCompletions ?? Defaults.RankingCompletions,
            ResumeFrom = resumeFrom,
        };
        try
        {
            return TrainingRunSpecs.Validate(spec);
        }
        catch (ArgumentException e)
        {
            throw new CliUsageException(e.Message, e);
        }
    }

    private static Command Start()
    {
        var gateway = ClusterVerbOptions.CreateGateway();
        var run = ClusterVerbOptions.CreateRun();
        var stages = new Option<int?>("--stages") { Description = $"Pipeline stages P, contiguous layers each (default {Defaults.Stages})." };
        var replicas = new Option<int?>("--replicas") { Description = $"Data-parallel replicas R (default {Defaults.Replicas})." };
        var schedule = new Option<string?>("--schedule") { Description = $"Pipeline schedule: gpipe or 1f1b (default {Defaults.Schedule}).", HelpName = "gpipe|1f1b" };
        schedule.CompletionSources.Add("gpipe", "1f1b");
        var objective = new Option<string?>("--objective")
        {
            Description = $"What the run minimises: pretrain (next-token cross-entropy), sft (cross-entropy on instruction responses only; needs --init-from) or reward (a reward model: a score head trained on rankings; needs --init-from) (default {Defaults.Objective}).",
            HelpName = "pretrain|sft|reward",
        };
        objective.CompletionSources.Add([.. TrainingRunSpecs.Objectives]);
        var initFrom = new Option<string?>("--init-from") { Description = "Start from the weights of this published model version (its shape, corpus and encoding must be the run's).", HelpName = "version" };
        var instructions = new Option<string?>("--instructions")
        {
            Description = "sft only: 'synthetic' (the built-in corpus's instructions, the default) or a JSON Lines file of {\"instruction\", \"response\"} in the silos' data directory.",
            HelpName = "synthetic|file.jsonl",
        };
        var rankings = new Option<string?>("--rankings")
        {
            Description = "reward only: 'cluster' (every ranking stored on the cluster for tasks of --ranking-completions completions, taken when the run starts) or 'synthetic' (the built-in rankings, the default).",
            HelpName = "cluster|synthetic",
        };
        var rankingCompletions = new Option<int?>("--ranking-completions")
        {
            Description = $"reward only: K, the completions of each ranking, 2 to 9 (default {Defaults.RankingCompletions}); --batch-size must be a multiple of it.",
            HelpName = "K",
        };
        var resumeFrom = new Option<string?>("--resume-from")
        {
            Description = "Continue a stopped or finished run from its last checkpoint, at this run's layout (--stages, --replicas, --micro-batches, --schedule may differ; the model and data must be the same).",
            HelpName = "run",
        };
        var training = new TrainingOptionSet();

        var command = new Command("start", "Start a distributed training run on the cluster and print its status.")
        {
            gateway, run, stages, replicas, schedule, objective, initFrom, instructions, rankings, rankingCompletions, resumeFrom,
        };
        foreach (var option in training.All)
        {
            command.Options.Add(option);
        }

        command.SetCliAction(async (cli, cancellationToken) =>
        {
            var id = ClusterVerbOptions.RunId(cli, run);
            var spec = ClusterSpec(
                training.Read(cli), cli.GetValue(stages), cli.GetValue(replicas), cli.GetValue(schedule),
                cli.GetValue(objective), cli.GetValue(initFrom), cli.GetValue(instructions), cli.GetValue(rankings), cli.GetValue(rankingCompletions), cli.GetValue(resumeFrom));

            await using var connection = await ClusterVerbOptions.ConnectAsync(cli, gateway, cancellationToken);
            RunStatus status;
            try
            {
                status = await connection.Client.GetGrain<ITrainingRunGrain>(id).StartAsync(spec);
            }
            catch (ArgumentException e)
            {
                throw new CliUsageException(e.Message, e); // the run grain refused the spec: nothing started
            }
            catch (InvalidOperationException e)
            {
                throw new CliFailureException(e.Message, e);
            }

            WriteStatus(cli, status);
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Watch()
    {
        var gateway = ClusterVerbOptions.CreateGateway();
        var run = ClusterVerbOptions.CreateRun();
        var command = new Command("watch", "Show a run's live progress (step, loss, tokens/s, ETA, recoveries) until it completes, stops or fails.")
        {
            gateway, run,
        };
        command.SetCliAction(async (cli, cancellationToken) =>
        {
            var id = ClusterVerbOptions.RunId(cli, run);
            await using var connection = await ClusterVerbOptions.ConnectAsync(cli, gateway, cancellationToken);
            var grain = connection.Client.GetGrain<ITrainingRunGrain>(id);
            var first = await grain.GetStatusAsync();
            if (first.Phase == RunPhase.NotStarted)
            {
                throw new CliFailureException($"Run '{id}' has not been started: start it with 'train start --run {id}'.");
            }

            var job = new ProgressJob($"train {id}", Math.Max(1, first.TotalSteps), Unit: "step");
            var final = await new ProgressReporter(cli).RunAsync(job, (progress, token) => PollAsync(grain, progress, token), cancellationToken);
            WriteStatus(cli, final);
            return final.Phase == RunPhase.Failed ? ExitCodes.Failure : ExitCodes.Success;
        });
        return command;
    }

    /// <summary>Polls status and new history until the run ends; reports each change.</summary>
    private static async Task<RunStatus> PollAsync(ITrainingRunGrain grain, IProgress<ProgressSnapshot> progress, CancellationToken cancellationToken)
    {
        var recent = new Queue<StepMetrics>();
        long lastStep = -1;
        while (true)
        {
            var status = await grain.GetStatusAsync();
            foreach (var step in await grain.GetHistoryAsync(lastStep))
            {
                recent.Enqueue(step);
                lastStep = Math.Max(lastStep, step.Step);
                while (recent.Count > 20)
                {
                    recent.Dequeue();
                }
            }

            progress.Report(Snapshot(status, recent));
            if (status.Phase is RunPhase.Completed or RunPhase.Stopped or RunPhase.Failed)
            {
                return status;
            }

            await Task.Delay(PollInterval, cancellationToken);
        }
    }

    /// <summary>Step, loss, tokens/s, phase and recoveries; the ETA from the last steps' mean time.</summary>
    internal static ProgressSnapshot Snapshot(RunStatus status, IReadOnlyCollection<StepMetrics> recent)
    {
        ArgumentNullException.ThrowIfNull(status);
        ArgumentNullException.ThrowIfNull(recent);
        var parts = new List<string> { status.Phase.ToString().ToLowerInvariant() };
        if (status.LastLoss is { } loss)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"loss {loss:F4}"));
        }

        if (status.ValidationLoss is { } validation)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"val {validation:F4}"));
        }

        if (status.TokensPerSecond is { } rate)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{rate:N0} tok/s"));
        }

        parts.Add(string.Create(CultureInfo.InvariantCulture, $"{status.Recoveries} recoveries"));
        TimeSpan? eta = recent.Count > 0 && status.Step < status.TotalSteps && status.Phase is RunPhase.Running or RunPhase.Recovering or RunPhase.Starting
            ? TimeSpan.FromSeconds(recent.Average(s => s.Seconds) * (status.TotalSteps - status.Step))
            : null;
        return new ProgressSnapshot(status.Step, Detail: string.Join(" · ", parts), Eta: eta);
    }

    private static Command Stop()
    {
        var gateway = ClusterVerbOptions.CreateGateway();
        var run = ClusterVerbOptions.CreateRun();
        var command = new Command("stop", "Stop a run after its current step.") { gateway, run };
        command.SetCliAction(async (cli, cancellationToken) =>
        {
            var id = ClusterVerbOptions.RunId(cli, run);
            await using var connection = await ClusterVerbOptions.ConnectAsync(cli, gateway, cancellationToken);
            WriteStatus(cli, await connection.Client.GetGrain<ITrainingRunGrain>(id).StopAsync());
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Trace()
    {
        var gateway = ClusterVerbOptions.CreateGateway();
        var run = ClusterVerbOptions.CreateRun();
        var output = new Option<string>("--out", "-o") { Description = "Write the Chrome trace JSON here (open it in Perfetto).", Required = true, HelpName = "file" };
        var command = new Command("trace", "Write a run's recorded operations of its last steps as a Chrome trace.") { gateway, run, output };
        command.SetCliAction(async (cli, cancellationToken) =>
        {
            var id = ClusterVerbOptions.RunId(cli, run);
            var path = Path.GetFullPath(cli.GetValue(output)!);
            if (Path.GetDirectoryName(path) is { } directory && !Directory.Exists(directory))
            {
                throw new CliUsageException($"The folder of --out does not exist: {directory}");
            }

            await using var connection = await ClusterVerbOptions.ConnectAsync(cli, gateway, cancellationToken);
            var spans = await connection.Client.GetGrain<ITrainingRunGrain>(id).GetTraceAsync();
            await File.WriteAllBytesAsync(path, TraceSpanConversion.ToChromeTraceJson(spans), cancellationToken);
            var result = new TraceResult(id, spans.Count, spans.Select(s => s.Step).Distinct().Count(), path);
            if (cli.Json)
            {
                cli.WriteJson(result);
            }
            else
            {
                cli.Console.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                    $"Wrote {result.Spans:N0} operations of {result.Steps} steps of run '{id}' to {path} (open it in Perfetto or chrome://tracing).")));
            }

            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>"pretrain", or e.g. "sft on synthetic instructions, from version base (revision 638...)", "reward on cluster rankings of 4, from version sft".</summary>
    internal static string Objective(TrainingRunSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var text = spec.Objective switch
        {
            TrainingRunSpecs.SftObjective => $"sft on {TrainingRunSpecs.InstructionSource(spec)} instructions",
            TrainingRunSpecs.RewardObjective => string.Create(CultureInfo.InvariantCulture, $"reward on {TrainingRunSpecs.RankingSource(spec)} rankings of {spec.RankingCompletions}"),
            _ => spec.Objective,
        };
        return spec.InitFrom is { } version
            ? string.Create(CultureInfo.InvariantCulture, $"{text}, from version {version}{(spec.InitRevision is { } r ? $" (revision {r})" : "")}")
            : spec.ResumeFrom is { } source
            ? string.Create(CultureInfo.InvariantCulture, $"{text}, continuing run {source}{(spec.ResumeStep is { } s ? $" from step {s}" : "")}")
            : text;
    }

    private static void WriteStatus(CliContext cli, RunStatus status)
    {
        if (cli.Json)
        {
            cli.WriteJson(status);
            return;
        }

        var table = new Table().AddColumn("Run").AddColumn(new TableColumn(Markup.Escape(status.RunId)));
        table.AddRow("phase", status.Phase.ToString());
        table.AddRow("step", string.Create(CultureInfo.InvariantCulture, $"{status.Step:N0} / {status.TotalSteps:N0}"));
        if (status.Spec is { } spec)
        {
            table.AddRow("layout", string.Create(CultureInfo.InvariantCulture,
                $"P={spec.Stages} stages x R={spec.Replicas} replicas, M={spec.MicroBatches} micro-batches of {spec.BatchSize} rows, {spec.Schedule}"));
            table.AddRow("model", string.Create(CultureInfo.InvariantCulture,
                $"{spec.Layers} layers x {spec.Heads} heads x {spec.Width} wide, context {spec.Context}, corpus {spec.Corpus} ({spec.Encoding})"));
            table.AddRow("objective", Markup.Escape(Objective(spec)));
        }

        table.AddRow("loss", status.LastLoss?.ToString("F4", CultureInfo.InvariantCulture) ?? "-");
        table.AddRow("validation loss", status.ValidationLoss?.ToString("F4", CultureInfo.InvariantCulture) ?? "-");
        table.AddRow("tokens/s", status.TokensPerSecond?.ToString("N0", CultureInfo.InvariantCulture) ?? "-");
        table.AddRow("last checkpoint", status.LastCheckpointStep < 0 ? "none" : status.LastCheckpointStep.ToString("N0", CultureInfo.InvariantCulture));
        table.AddRow("recoveries", status.Recoveries.ToString(CultureInfo.InvariantCulture));
        foreach (var recovery in status.RecoveryLog)
        {
            table.AddRow("", Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                $"step {recovery.FailedAtStep} -> {recovery.ResumedFromStep} in {recovery.SecondsToResume:F1} s: {recovery.Cause}")));
        }

        if (status.Error is { } error)
        {
            table.AddRow("error", Markup.Escape(error));
        }

        cli.Console.Write(table);
    }
}

internal sealed record TraceResult(string RunId, int Spans, int Steps, string Path);
