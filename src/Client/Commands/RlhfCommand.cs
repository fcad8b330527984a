using System.CommandLine;
using System.Globalization;
using InsideLLMs.Distributed.Client.Cli;
using InsideLLMs.Distributed.Client.Cluster;
using InsideLLMs.Distributed.Contracts.Rlhf;
using Spectre.Console;

namespace InsideLLMs.Distributed.Client.Commands;

/// <summary><c>rlhf status</c>: the rankings collected; <c>rlhf reward</c>: a trained reward model, and its scores of completions.</summary>
internal static class RlhfCommand
{
    public static Command Create()
    {
        var command = new Command("rlhf", "The RLHF pipeline: 'rlhf status' shows what has been collected, 'rlhf reward' a trained reward model, 'rlhf ppo' PPO runs, 'rlhf run' the whole pipeline.");
        command.Subcommands.Add(Status());
        command.Subcommands.Add(Reward());
        command.Subcommands.Add(PpoCommand.Create());
        command.Subcommands.Add(PipelineCommand.Run());
        return command;
    }

    private static Command Reward()
    {
        var gateway = ClusterVerbOptions.CreateGateway();
        var run = new Option<string>("--run") { Description = "The reward run (objective reward) whose model scores.", DefaultValueFactory = _ => "reward", HelpName = "id" };
        var prompt = new Option<string?>("--prompt") { Description = "Score completions of this prompt (given after the options).", HelpName = "text" };
        var completions = new Argument<string[]>("completions") { Description = "The completions to score (with --prompt).", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("reward", "A trained reward model: its normalisation and held-out agreement; with --prompt, its scores of the completions given.")
        {
            gateway, run, prompt, completions,
        };
        command.SetCliAction(async (cli, cancellationToken) =>
        {
            var text = cli.GetValue(prompt);
            var given = cli.GetValue(completions) ?? [];
            if (text is null && given.Length > 0)
            {
                throw new CliUsageException("Completions are scored against a prompt: give it with --prompt.");
            }

            if (text is not null && given.Length == 0)
            {
                throw new CliUsageException("--prompt needs the completions to score after the options.");
            }

            await using var connection = await ClusterVerbOptions.ConnectAsync(cli, gateway, cancellationToken);
            var grain = connection.Client.GetGrain<IRewardModelGrain>(cli.GetValue(run)!);
            try
            {
                if (text is null)
                {
                    var info = await grain.GetInfoAsync();
                    if (cli.Json)
                    {
                        cli.WriteJson(info);
                        return ExitCodes.Success;
                    }

                    var table = new Table().AddColumns("reward model", "value");
                    table.AddRow("run, step", $"{info.RunId}, {info.Step}");
                    table.AddRow("normalisation", $"mean {info.Mean:G6}, std {info.Std:G6} over {info.NormalizationSamples} training completions");
                    table.AddRow("held-out rankings", info.HeldOutRankings.ToString(CultureInfo.InvariantCulture));
                    table.AddRow("pairs ordered as the annotators did", Share(info.AnnotatorPairsAgreed, info.AnnotatorPairs));
                    table.AddRow("pairs ordered as the preference rule does", Share(info.RulePairsAgreed, info.RulePairs));
                    cli.Console.Write(table);
                    return ExitCodes.Success;
                }

                var scores = await grain.ScoreAsync(text, given);
                if (cli.Json)
                {
                    cli.WriteJson(scores);
                    return ExitCodes.Success;
                }

                var rows = new Table().AddColumns("#", "completion", "raw", "normalised", "rule", "place");
                for (var i = 0; i < given.Length; i++)
                {
                    rows.AddRow(
                        (i + 1).ToString(CultureInfo.InvariantCulture), Markup.Escape(given[i]),
                        scores.Raw[i].ToString("0.0000", CultureInfo.InvariantCulture), scores.Normalized[i].ToString("+0.00;-0.00", CultureInfo.InvariantCulture),
                        scores.Rule[i].ToString("0.##", CultureInfo.InvariantCulture), (scores.Order.ToList().IndexOf(i) + 1).ToString(CultureInfo.InvariantCulture));
                }

                cli.Console.Write(rows);
                return ExitCodes.Success;
            }
            catch (ArgumentException e)
            {
                throw new CliUsageException(e.Message, e);
            }
            catch (InvalidOperationException e)
            {
                throw new CliFailureException(e.Message, e);
            }
        });
        return command;
    }

    private static string Share(long agreed, long pairs) =>
        pairs == 0 ? "-" : $"{(double)agreed / pairs:0.000} ({agreed} of {pairs})";

    private static Command Status()
    {
        var gateway = ClusterVerbOptions.CreateGateway();
        var command = new Command("status", "Ranking tasks and the rankings stored (each counted once), simulated ones apart, the annotators' agreement, and the RLHF pipeline's stages.") { gateway };
        command.SetCliAction(async (cli, cancellationToken) =>
        {
            await using var connection = await ClusterVerbOptions.ConnectAsync(cli, gateway, cancellationToken);
            var summary = await connection.Client.GetGrain<IRankingBoardGrain>(RankingNames.Board).GetSummaryAsync();
            if (cli.Json)
            {
                cli.WriteJson(summary);
                return ExitCodes.Success;
            }

            var table = new Table().AddColumns("rankings", "value");
            table.AddRow("tasks (open)", $"{summary.Tasks} ({summary.OpenTasks})");
            table.AddRow("rankings stored", summary.Rankings.ToString(CultureInfo.InvariantCulture));
            table.AddRow("of which simulated", summary.Simulated.ToString(CultureInfo.InvariantCulture));
            table.AddRow("tasks ranked by two or more", summary.TasksRankedBySeveral.ToString(CultureInfo.InvariantCulture));
            table.AddRow("agreement (pairs ordered alike)", summary.Agreement is { } a ? a.ToString("0.000", CultureInfo.InvariantCulture) : "-");
            cli.Console.Write(table);
            var pipeline = await connection.Client.GetGrain<IRlhfPipelineGrain>(RlhfPipelineNames.Default).GetStatusAsync();
            if (pipeline.Spec is not null)
            {
                PipelineCommand.Show(cli, pipeline);
            }

            return ExitCodes.Success;
        });
        return command;
    }
}
