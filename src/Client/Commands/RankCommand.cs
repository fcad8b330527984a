using System.CommandLine;
using System.Globalization;
using InsideLLMs.Distributed.Client.Cli;
using InsideLLMs.Distributed.Client.Cluster;
using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Rlhf;
using Spectre.Console;

namespace InsideLLMs.Distributed.Client.Commands;

/// <summary>
/// <c>rank</c>: shows a ranking task (a prompt and K completions from the policy), reads the annotator's order and
/// stores it; <c>rank --simulate N</c> has a simulated annotator (the corpus's preference rule, with noise) rank N tasks.
/// </summary>
internal static class RankCommand
{
    private const string DefaultVersion = "base";

    public static Command Create()
    {
        var gateway = ClusterVerbOptions.CreateGateway();
        var annotator = new Option<string?>("--annotator") { Description = "Who ranks: letters, digits and . _ - @ (default: $USER; 'sim-1' with --simulate).", HelpName = "id" };
        var k = new Option<int?>("--k") { Description = $"Completions per task, {RankingRules.MinCompletions} to {RankingRules.MaxCompletions} (default {RankingRules.DefaultCompletions})." };
        var version = new Option<string?>("--version") { Description = $"The model version completions are sampled from (default {DefaultVersion}).", HelpName = "name" };
        var task = new Option<string?>("--task") { Description = "Rank this task rather than the next one not yet ranked.", HelpName = "id" };
        var order = new Option<string?>("--order") { Description = "The order, best first, as the completions are numbered (e.g. \"2 1 4 3\"); read from stdin without it.", HelpName = "order" };
        var simulate = new Option<int?>("--simulate") { Description = "Have a simulated annotator rank this many tasks (1 to 10,000).", HelpName = "N" };
        var noise = new Option<double?>("--noise") { Description = "With --simulate: the chance a ranking is a random order instead of the rule's (default 0)." };
        var seed = new Option<long?>("--seed") { Description = "With --simulate: the annotator's seed (default 1)." };
        var command = new Command("rank", "Rank a task's completions, best first (interactive), or have a simulated annotator rank tasks.")
        {
            gateway, annotator, k, version, task, order, simulate, noise, seed,
        };
        command.SetCliAction(async (cli, cancellationToken) =>
        {
            var count = cli.GetValue(simulate);
            var completions = Usage(() => RankingRules.CheckCompletionCount(cli.GetValue(k) ?? RankingRules.DefaultCompletions));
            var source = cli.GetValue(version) ?? DefaultVersion;
            if (count is { } n)
            {
                if (n is < 1 or > 10_000)
                {
                    throw new CliUsageException($"--simulate takes 1 to 10,000 tasks; got {n}.");
                }

                if (cli.GetValue(order) is not null || cli.GetValue(task) is not null)
                {
                    throw new CliUsageException("--simulate ranks the next tasks itself: leave out --order and --task.");
                }

                var simulated = Annotator(cli.GetValue(annotator) ?? "sim-1");
                var rule = Usage(() => new SimulatedAnnotator(PreferenceRule.Default, cli.GetValue(noise) ?? 0, cli.GetValue(seed) ?? 1));
                await using var simulation = await ClusterVerbOptions.ConnectAsync(cli, gateway, cancellationToken);
                return await SimulateAsync(cli, simulation, simulated, rule, n, completions, source, cancellationToken);
            }

            if (cli.GetValue(noise) is not null || cli.GetValue(seed) is not null)
            {
                throw new CliUsageException("--noise and --seed belong to --simulate.");
            }

            var person = Annotator(cli.GetValue(annotator) ?? Environment.UserName);
            await using var connection = await ClusterVerbOptions.ConnectAsync(cli, gateway, cancellationToken);
            return await RankOneAsync(cli, connection, person, cli.GetValue(task), cli.GetValue(order), completions, source);
        });
        return command;
    }

    private static async Task<int> RankOneAsync(CliContext cli, ClusterConnection connection, string annotator, string? taskId, string? given, int k, string version)
    {
        var task = await Refused(async () => taskId is null
            ? await connection.Client.GetGrain<IRankingBoardGrain>(RankingNames.Board).NextTaskAsync(annotator, k, version)
            : (await connection.Client.GetGrain<IRankingTaskGrain>(taskId).GetAsync()).Task);
        var count = task.Completions.Count;
        if (!cli.Json)
        {
            cli.Console.MarkupLine($"Task [bold]{Markup.Escape(task.Id)}[/] (from version {Markup.Escape(task.Version)}, open until {task.ExpiresAt:u}). Prompt:");
            cli.Console.MarkupLine($"  [bold]{Markup.Escape(task.Prompt)}[/]");
            for (var i = 0; i < count; i++)
            {
                cli.Console.MarkupLine($"  {i + 1}. {Markup.Escape(task.Completions[i])}");
            }
        }

        IReadOnlyList<int> order;
        if (given is not null)
        {
            order = ParseOrder(given, count) is { Error: null } parsed ? parsed.Order! : throw new CliUsageException(ParseOrder(given, count).Error!);
        }
        else
        {
            order = await ReadOrderAsync(cli, count);
        }

        var receipt = await Refused(() => connection.Client.GetGrain<IRankingTaskGrain>(task.Id).SubmitAsync(annotator, order, simulated: false));
        if (cli.Json)
        {
            cli.WriteJson(receipt);
            return ExitCodes.Success;
        }

        var shown = string.Join(" > ", receipt.Order.Select(i => (i + 1).ToString(CultureInfo.InvariantCulture)));
        cli.Console.MarkupLine(receipt.Duplicate
            ? $"You ranked this task before: your first ranking stands ({Markup.Escape(receipt.ReceiptId)}, {shown}, {receipt.AcceptedAt:u}); nothing changed."
            : $"Stored {Markup.Escape(receipt.ReceiptId)}: {shown}, ranking {receipt.Sequence} of this task.");
        return ExitCodes.Success;
    }

    /// <summary>Asks for the order until a valid one is typed (three tries); the end of input is a usage error.</summary>
    private static async Task<IReadOnlyList<int>> ReadOrderAsync(CliContext cli, int count)
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            await cli.Error.WriteAsync($"Your order, best first (e.g. {string.Join(' ', Enumerable.Range(1, count).Reverse())}): ");
            var line = await cli.Input.ReadLineAsync() ?? throw new CliUsageException("No order was given (the input ended).");
            var parsed = ParseOrder(line, count);
            if (parsed.Error is null)
            {
                return parsed.Order!;
            }

            await cli.Error.WriteLineAsync(parsed.Error);
        }

        throw new CliUsageException("No valid order after three tries.");
    }

    /// <summary>"2 1 4 3" or "2,1,4,3" (numbered from 1, as shown) to the 0-based order the task takes.</summary>
    internal static (IReadOnlyList<int>? Order, string? Error) ParseOrder(string text, int count)
    {
        var parts = text.Split([' ', ',', '>', '\t'], StringSplitOptions.RemoveEmptyEntries);
        var order = new List<int>();
        foreach (var part in parts)
        {
            if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number))
            {
                return (null, $"'{part}' is not a completion number: type the numbers 1 to {count}, best first.");
            }

            order.Add(number - 1);
        }

        try
        {
            RankingRules.CheckOrder(order, count);
            return (order, null);
        }
        catch (ArgumentException)
        {
            return (null, $"Type each of the numbers 1 to {count} once, best first; got '{text.Trim()}'.");
        }
    }

    private static async Task<int> SimulateAsync(
        CliContext cli, ClusterConnection connection, string annotator, SimulatedAnnotator rule, int count, int k, string version, CancellationToken cancellationToken)
    {
        var board = connection.Client.GetGrain<IRankingBoardGrain>(RankingNames.Board);
        var receipts = await new ProgressReporter(cli).RunAsync(new ProgressJob($"{annotator} ranking (simulated, noise {rule.Noise:0.##})", count, "ranking"), async (progress, token) =>
        {
            var stored = new List<RankingReceipt>();
            for (var i = 0; i < count; i++)
            {
                token.ThrowIfCancellationRequested();
                var task = await Refused(() => board.NextTaskAsync(annotator, k, version));
                var order = rule.Rank(task.Id, task.Prompt, task.Completions);
                stored.Add(await Refused(() => connection.Client.GetGrain<IRankingTaskGrain>(task.Id).SubmitAsync(annotator, order, simulated: true)));
                progress.Report(new ProgressSnapshot(i + 1));
            }

            return stored;
        }, cancellationToken);
        if (cli.Json)
        {
            cli.WriteJson(new { annotator, noise = rule.Noise, simulated = true, rankings = receipts });
            return ExitCodes.Success;
        }

        cli.Console.MarkupLine($"{receipts.Count} simulated rankings stored by {Markup.Escape(annotator)} (labelled simulated), on {receipts.Select(r => r.TaskId).Distinct().Count()} tasks.");
        return ExitCodes.Success;
    }

    private static string Annotator(string id) => Usage(() => RankingRules.CheckAnnotator(id));

    private static T Usage<T>(Func<T> check)
    {
        try
        {
            return check();
        }
        catch (ArgumentException e)
        {
            throw new CliUsageException(e.Message, e);
        }
    }

    /// <summary>The grains' refusals as the client's: bad input exit 2, a conflict exit 1.</summary>
    private static async Task<T> Refused<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (ArgumentException e)
        {
            throw new CliUsageException(e.Message, e);
        }
        catch (InvalidOperationException e)
        {
            throw new CliFailureException(e.Message, e);
        }
    }
}
