using System.CommandLine;
using System.Globalization;
using InsideLLMs.Distributed.Client.Cli;
using InsideLLMs.Distributed.Client.Cluster;
using InsideLLMs.Distributed.Contracts.Rlhf;
using Spectre.Console;

namespace InsideLLMs.Distributed.Client.Commands;

/// <summary><c>rlhf status</c>: what the RLHF pipeline holds; today the rankings collected.</summary>
internal static class RlhfCommand
{
    public static Command Create()
    {
        var command = new Command("rlhf", "The RLHF pipeline: 'rlhf status' shows what has been collected.");
        command.Subcommands.Add(Status());
        return command;
    }

    private static Command Status()
    {
        var gateway = ClusterVerbOptions.CreateGateway();
        var command = new Command("status", "Ranking tasks and the rankings stored (each counted once), simulated ones apart, and the annotators' agreement.") { gateway };
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
            return ExitCodes.Success;
        });
        return command;
    }
}
