using System.Text;
using InsideLLMs.Distributed.Client.Cli;

// Token pieces, CJK and emoji must reach the terminal intact whatever the platform's default code page.
Console.OutputEncoding = Encoding.UTF8;
return await CliApp.RunAsync(args, Console.Out, Console.Error);
