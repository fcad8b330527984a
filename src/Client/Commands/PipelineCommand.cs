using System.CommandLine;
using System.Globalization;
using InsideLLMs.Distributed.Client.Cli;
using InsideLLMs.Distributed.Client.Cluster;
using InsideLLMs.Distributed.Contracts.Rlhf;
using Spectre.Console;

namespace InsideLLMs.Distributed.Client.Commands;

/// <summary><c>rlhf run</c>: the RLHF pipeline (SFT, reward model, PPO, publish) driven by events, and its state.</summary>
internal static class PipelineCommand
{
    public static Command Run()
    {
        var gateway = ClusterVerbOptions.CreateGateway();
        var stages = new Argument<string[]>("stages") { Description = "The stages to run, in order (sft reward ppo publish); all when none is named.", Arity = ArgumentArity.ZeroOrMore };
        var baseVersion = new Option<string>("--base") { Description = "The published base model SFT starts from.", DefaultValueFactory = _ => "base", HelpName = "version" };
        var sftSteps = new Option<int>("--sft-steps") { Description = "SFT steps.", DefaultValueFactory = _ => 300 };
        var rewardSteps = new Option<int>("--reward-steps") { Description = "Reward model steps.", DefaultValueFactory = _ => 300 };
        var rankings = new Option<string>("--rankings") { Description = "The reward model's rankings: cluster (stored ones) or synthetic (built-in).", DefaultValueFactory = _ => "cluster" };
        var minRankings = new Option<int>("--min-rankings") { Description = "The reward stage waits until this many rankings are stored (RankingBatchReady).", DefaultValueFactory = _ => 0 };
        var iterations = new Option<int>("--ppo-iterations") { Description = "PPO iterations.", DefaultValueFactory = _ => 100 };
        var version = new Option<string>("--version") { Description = "The version the PPO policy is published as.", DefaultValueFactory = _ => "assistant", HelpName = "name" };
        var watch = new Option<bool>("--watch") { Description = "Follow the pipeline until it ends, printing each stage and event." };
        var command = new Command("run", "Runs the RLHF pipeline on the cluster: SFT, the reward model, PPO and the policy published, each stage started by the event that ends the one before.")
        {
            gateway, stages, baseVersion, sftSteps, rewardSteps, rankings, minRankings, iterations, version, watch,
        };
        command.SetCliAction(async (cli, cancellationToken) =>
        {
            var named = cli.GetValue(stages) ?? [];
            var spec = new RlhfPipelineSpec(
                named.Length == 0 ? null : named, cli.GetValue(baseVersion)!, Version: cli.GetValue(version)!, SftSteps: cli.GetValue(sftSteps),
                RewardSteps: cli.GetValue(rewardSteps), Rankings: cli.GetValue(rankings)!, MinRankings: cli.GetValue(minRankings), PpoIterations: cli.GetValue(iterations));
            await using var connection = await ClusterVerbOptions.ConnectAsync(cli, gateway, cancellationToken);
            var pipeline = connection.Client.GetGrain<IRlhfPipelineGrain>(RlhfPipelineNames.Default);
            RlhfPipelineStatus status;
            try
            {
                status = await pipeline.StartAsync(spec);
            }
            catch (ArgumentException e)
            {
                throw new CliUsageException(e.Message, e);
            }
            catch (InvalidOperationException e)
            {
                throw new CliFailureException(e.Message, e);
            }

            if (!cli.GetValue(watch))
            {
                Show(cli, status);
                return ExitCodes.Success;
            }

            var (events, lines) = (0, new Dictionary<string, string>());
            while (true)
            {
                foreach (var stage in status.Stages.Where(s => s.State != "skipped"))
                {
                    var line = $"{stage.Name}: {stage.State}{(stage.Progress.Length > 0 ? " · " + stage.Progress : "")}";
                    if (lines.GetValueOrDefault(stage.Name) != line)
                    {
                        lines[stage.Name] = line;
                        cli.Console.WriteLine(line);
                    }
                }

                foreach (var e in status.Events.Skip(events))
                {
                    cli.Console.WriteLine($"  event {e.Name}: {e.Detail}");
                }

                events = status.Events.Count;
                if (status.Phase != "running")
                {
                    cli.Console.WriteLine($"pipeline {status.Phase}{(status.Error is { } error ? ": " + error : "")}");
                    return status.Phase == "completed" ? ExitCodes.Success : ExitCodes.Failure;
                }

                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
                status = await pipeline.GetStatusAsync();
            }
        });
        return command;
    }

    /// <summary>The pipeline's stages and its last events, as a table.</summary>
    public static void Show(CliContext cli, RlhfPipelineStatus status)
    {
        if (cli.Json)
        {
            cli.WriteJson(status);
            return;
        }

        var table = new Table().AddColumns("RLHF pipeline stage", "state", "run / version", "progress");
        foreach (var stage in status.Stages)
        {
            table.AddRow(stage.Name, stage.State, Markup.Escape(stage.Target ?? "-"), Markup.Escape(stage.Progress));
        }

        cli.Console.Write(table);
        cli.Console.WriteLine($"pipeline {status.Phase}{(status.Error is { } error ? ": " + error : "")}");
        foreach (var e in status.Events.TakeLast(8))
        {
            cli.Console.WriteLine($"  {e.At.ToString("HH:mm:ss", CultureInfo.InvariantCulture)} {e.Name}: {e.Detail}");
        }
    }
}
