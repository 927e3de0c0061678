"""The Telegram adapter (python-telegram-bot 22): turns updates into dialogue calls and replies into messages.

Blocking work never runs on asyncio's default executor: questions and quiz events go to the bounded *chat*
pool (quiz events first), re-indexing, uploads, LLM summaries, exports and renders to the bounded *work* pool
(:mod:`bot.workers`); a full pool answers "busy, try again" at once. The flood gate applies to messages,
commands and buttons alike. Sends are paced within Telegram's limits, and quiz questions and verdicts are
retried when that cannot duplicate them (:mod:`bot.telegram_delivery`).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta

from telegram import (
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    PollAnswerHandler,
    TypeHandler,
    filters,
)

from bot.config import Settings
from bot.dialogue import Button, Dialogue, Incoming, Reply
from bot.dialogue.core import BUSY_NOTICE, COMMANDS, FLOOD_NOTICE, QUIZ_BUTTONS, QUIZ_COMMANDS
from bot.dialogue.replies import PollSpec
from bot.telegram_delivery import ChatPacer, deliver
from bot.telegram_limits import fits_a_poll, open_period, poll_fields
from bot.webhook import run_webhook, webhook_secret
from bot.workers import NORMAL, URGENT, Busy, WorkerPool

log = logging.getLogger(__name__)
ADMIN_MENU = [("reindex", "重建索引"), ("stats", "使用统计"), ("export", "导出记录"), ("quizstats", "测验统计"),
              ("campaign", "培训活动"), ("revoke", "撤销证明")]
UNSUPPORTED = (
    (filters.Sticker.ALL, "贴纸"), (filters.PHOTO, "图片"), (filters.VOICE, "语音"), (filters.AUDIO, "音频"),
    (filters.VIDEO | filters.VIDEO_NOTE | filters.ANIMATION, "视频"), (filters.LOCATION | filters.CONTACT, "这类消息"),
)


def _who(update: Update) -> Incoming:
    user = update.effective_user
    chat = update.effective_chat
    return Incoming(
        user_id=user.id if user else 0,
        name=user.full_name if user else "",
        username=(user.username or "") if user else "",
        chat_id=chat.id if chat else 0,
        private=chat is None or chat.type == "private",
    )


def _markup(reply: Reply) -> InlineKeyboardMarkup | None:
    return _markup_rows(reply.buttons)


def _markup_rows(rows: list[list[Button]]) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.text, url=b.url) if b.url else
                                  InlineKeyboardButton(b.text, callback_data=b.data) for b in row] for row in rows])


def _pools(context: ContextTypes.DEFAULT_TYPE) -> tuple[WorkerPool, WorkerPool]:
    """(chat pool, work pool), made on first use."""
    data = context.application.bot_data
    if "pools" not in data:
        settings: Settings = data["settings"]
        data["pools"] = (
            WorkerPool("chat", settings.chat_workers, settings.chat_queue),
            WorkerPool("work", settings.work_workers, settings.work_queue, lanes={"llm": settings.llm_concurrency}),
        )
    return data["pools"]


async def _send(send: Callable[[], Awaitable[Message]], important: bool, what: str) -> Message:
    return await deliver(send, what) if important else await send()


async def send_reply(context: ContextTypes.DEFAULT_TYPE, chat_id: int, reply: Reply | None, important: bool = False,
                     reply_to: int | None = None) -> list[Message]:
    """Send a reply as one or more HTML messages (split at paragraphs), buttons on the last one.

    ``important`` replies (quiz questions and verdicts) are retried where that cannot duplicate them.
    A reply's follow-up (the LLM's summary) is started on the work pool and sent when ready.
    """
    if reply is None:
        return []
    sent: list[Message] = []
    chunks = reply.html_chunks() if reply.blocks else []
    for n, chunk in enumerate(chunks):
        markup = _markup(reply) if n == len(chunks) - 1 else None
        threading = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to and n == 0 else None
        sent.append(await _send(
            lambda c=chunk, m=markup, t=threading: context.bot.send_message(
                chat_id, c, parse_mode=ParseMode.HTML, reply_markup=m, reply_parameters=t),
            important, "message"))
    for attachment in reply.attachments:
        await context.bot.send_document(
            chat_id, InputFile(attachment.data, filename=attachment.filename), caption=attachment.caption or None,
        )
    if reply.poll is not None:
        await send_quiz_question(context, chat_id, reply.poll)
    if reply.followup is not None:
        _start_followup(context, chat_id, reply.followup, sent[0].message_id if sent else None)
    return sent


def _start_followup(context: ContextTypes.DEFAULT_TYPE, chat_id: int, followup: Callable[[], Reply | None],
                    reply_to: int | None) -> None:
    """Run a follow-up on the work pool (dropped when its lane is full) and send its reply as an answer."""
    try:
        future = _pools(context)[1].submit(followup, lane="llm")
    except Busy:
        log.info("follow-up skipped: the LLM lane is full")
        return

    async def send_when_ready() -> None:
        try:
            reply = await asyncio.wrap_future(future)
            await send_reply(context, chat_id, reply, reply_to=reply_to)
        except Exception:
            log.exception("follow-up failed")

    context.application.create_task(send_when_ready())


async def send_quiz_question(context: ContextTypes.DEFAULT_TYPE, chat_id: int, spec: PollSpec) -> None:
    """A quiz poll (several right options allowed, Bot API 10), or tick buttons where a poll cannot carry the
    question (too long); plus its timer. Options go out in the attempt's own order.

    The timer is set even when the question could not be sent: the quiz then moves on instead of stalling.
    """
    dialogue = _dialogue(context)
    period = open_period(spec.open_period)
    # An answer may overtake the reply to sendPoll: on_poll_answer waits until the poll is remembered.
    remembered = context.application.bot_data.setdefault("polls_being_sent", {})
    try:
        if fits_a_poll(spec):
            remembered[chat_id] = asyncio.Event()
            fields = poll_fields(spec)
            message = await deliver(lambda: context.bot.send_poll(chat_id, **fields), "quiz question")
            await _pools(context)[0].run(dialogue.quiz.remember_poll, message.poll.id, spec.attempt_id, spec.index,
                                         chat_id, priority=URGENT, must_run=True)
        else:
            text = html.escape(spec.question + ("（多选，选好后提交）" if spec.multiple else "（选好后提交）"))
            await deliver(lambda: context.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML,
                                                           reply_markup=_markup_rows(spec.toggle_buttons())),
                          "quiz question")
    finally:
        if chat_id in remembered:
            remembered.pop(chat_id).set()
        if context.job_queue is not None:
            context.job_queue.run_once(on_quiz_timer, period + 2, chat_id=chat_id,
                                       data=(spec.attempt_id, spec.index), name=f"quiz-{spec.attempt_id}-{spec.index}")


async def on_quiz_timer(context: ContextTypes.DEFAULT_TYPE) -> None:
    attempt_id, index = context.job.data
    reply = await _pools(context)[0].run(_dialogue(context).on_quiz_timeout, attempt_id, index, priority=URGENT,
                                         must_run=True)
    await send_reply(context, context.job.chat_id, reply, important=True)


async def on_poll_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    answer = update.poll_answer
    dialogue = _dialogue(context)
    if dialogue.quiz is None or answer.user is None:
        return
    who = Incoming(answer.user.id, answer.user.full_name, answer.user.username or "", answer.user.id)
    being_sent = context.application.bot_data.get("polls_being_sent", {}).get(answer.user.id)
    if being_sent is not None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(being_sent.wait(), timeout=10)

    def record() -> Reply | None:
        found = dialogue.quiz.poll(answer.poll_id)
        if found is None:
            return None
        attempt_id, index = found
        # The quiz poll itself shows right or wrong and the explanation: no separate verdict message. A vote
        # by anyone but the attempt's owner (a forwarded poll) is not recorded and gets no reply.
        return dialogue.on_quiz_answer(who, attempt_id, index, list(answer.option_ids), 0.0, False)

    reply = await _pools(context)[0].run(record, priority=URGENT, must_run=True)
    await send_reply(context, answer.user.id, reply, important=True)


def _dialogue(context: ContextTypes.DEFAULT_TYPE) -> Dialogue:
    return context.application.bot_data["dialogue"]


async def _typing_while(context: ContextTypes.DEFAULT_TYPE, chat_id: int, work: Callable[[], Awaitable]) -> object:
    """Show 'typing…' while ``work`` runs (Telegram clears it after 5 s, so it is repeated)."""
    async def keep_typing() -> None:
        while True:
            try:
                await context.bot.send_chat_action(chat_id, ChatAction.TYPING)
            except TelegramError:
                pass
            await asyncio.sleep(4.5)

    typing = asyncio.create_task(keep_typing())
    try:
        return await work()
    finally:
        typing.cancel()


async def on_any_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Runs first: an update delivered twice is handled once; a user sending too fast is slowed down."""
    dialogue = _dialogue(context)
    first = await _pools(context)[0].run(dialogue.store.first_delivery, update.update_id, priority=URGENT,
                                         must_run=True)
    if not first:
        log.info("duplicate update %s ignored", update.update_id)
        raise ApplicationHandlerStop
    user = update.effective_user
    if user is None or (update.effective_message is None and update.callback_query is None):
        return  # poll answers and chat-member news are not flooding
    button = update.callback_query.data or "" if update.callback_query is not None else ""
    gate = dialogue.gate(_who(update), button)
    if gate == "ok":
        return
    with contextlib.suppress(TelegramError):
        if update.callback_query is not None:
            await update.callback_query.answer(FLOOD_NOTICE if gate == "warn" else None)
        elif gate == "warn" and update.effective_chat is not None:
            await context.bot.send_message(update.effective_chat.id, FLOOD_NOTICE)
    raise ApplicationHandlerStop


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    who = _who(update)
    text = update.effective_message.text or ""
    dialogue = _dialogue(context)
    try:
        reply = await _typing_while(context, who.chat_id, lambda: _pools(context)[0].run(dialogue.on_text, who, text))
    except Busy:
        reply = Reply.text(BUSY_NOTICE)
    await send_reply(context, who.chat_id, reply)  # type: ignore[arg-type]


async def on_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    who = _who(update)
    text = update.effective_message.text or ""
    command, _, args = text.lstrip("/").partition(" ")
    dialogue = _dialogue(context)
    chat, work = _pools(context)
    quiz = command.lower().split("@", 1)[0] in QUIZ_COMMANDS
    pool = work if dialogue.is_slow(who, command) else chat
    try:
        reply = await _typing_while(context, who.chat_id, lambda: pool.run(
            dialogue.on_command, who, command, args, priority=URGENT if quiz else NORMAL))
    except Busy:
        reply = Reply.text(BUSY_NOTICE)
    await send_reply(context, who.chat_id, reply, important=reply.poll is not None)  # type: ignore[union-attr]


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    who = _who(update)
    data = query.data or ""
    quiz = data.partition(":")[0] in QUIZ_BUTTONS  # ticking and submitting answers, quiz and profile steps
    with contextlib.suppress(TelegramError):
        await query.answer()
    try:
        reply = await _pools(context)[0].run(_dialogue(context).on_button, who, data,
                                             priority=URGENT if quiz else NORMAL, must_run=quiz)
    except Busy:
        reply = Reply.text(BUSY_NOTICE)
    if reply.edit and query.message is not None:
        chunk = reply.html_chunks()[0]
        await _send(lambda: query.edit_message_text(chunk, parse_mode=ParseMode.HTML, reply_markup=_markup(reply)),
                    quiz, "quiz choice")
        return
    await send_reply(context, who.chat_id, reply, important=quiz)


async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    who = _who(update)
    document = update.effective_message.document
    loop = asyncio.get_running_loop()

    async def download() -> bytes:
        file = await document.get_file()
        return bytes(await file.download_as_bytearray())

    def fetch() -> bytes:
        return asyncio.run_coroutine_threadsafe(download(), loop).result(timeout=120)

    dialogue = _dialogue(context)
    chat, work = _pools(context)
    pool = work if who.user_id in dialogue.admin_ids else chat  # others are refused at once
    try:
        reply = await _typing_while(context, who.chat_id, lambda: pool.run(
            dialogue.on_document, who, document.file_name or "", document.file_size or 0, fetch))
    except Busy:
        reply = Reply.text("系统正忙，暂时无法接收文件，请稍后再发送。")
    await send_reply(context, who.chat_id, reply)  # type: ignore[arg-type]


def _unsupported(what: str) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]:
    async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        who = _who(update)
        await send_reply(context, who.chat_id, _dialogue(context).on_unsupported(who, what))

    return handler


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await context.bot.send_message(update.effective_chat.id, "抱歉，处理您的消息时出错了，请稍后再试。")
        except TelegramError:
            log.warning("could not send the apology")


async def _prune_logs(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Daily: delete question logs older than BOT_LOG_RETENTION_DAYS (quiz and education records stay)."""
    days = context.application.bot_data["settings"].log_retention_days
    if days > 0:
        with contextlib.suppress(Busy):
            removed = await _pools(context)[1].run(_dialogue(context).store.prune_questions, days)
            log.info("pruned %d question logs older than %d days", removed, days)


async def _post_shutdown(application: Application) -> None:
    for pool in application.bot_data.pop("pools", ()):
        pool.shutdown()


async def _post_init(application: Application) -> None:
    dialogue: Dialogue = application.bot_data["dialogue"]
    if not dialogue.bot_username:  # for deep links: t.me/<bot>?start=verify_CODE
        dialogue.bot_username = application.bot.username or ""
    if application.job_queue is not None:
        application.job_queue.run_repeating(_prune_logs, interval=timedelta(days=1), first=timedelta(seconds=10),
                                            name="prune-logs")
    commands = [BotCommand(name, text) for name, text in COMMANDS]
    await application.bot.set_my_commands(commands, scope=BotCommandScopeDefault())
    admin = commands + [BotCommand(name, text) for name, text in ADMIN_MENU]
    for admin_id in dialogue.admin_ids:
        try:
            await application.bot.set_my_commands(admin, scope=BotCommandScopeChat(admin_id))
        except TelegramError as exc:
            log.warning("could not set admin commands for %s: %s", admin_id, exc)


class RedactSecrets(logging.Filter):
    """Replaces secrets in every log record that passes a handler (PTB and httpx log URLs with the token)."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, ()
        return True


def _redact_logs(settings: Settings) -> None:
    secrets = [settings.telegram_token, settings.webhook_secret, settings.llm_api_key]
    for handler in logging.getLogger().handlers:
        present = [f for f in handler.filters if isinstance(f, RedactSecrets)]
        if present:  # a handler already redacting (an earlier application) learns the new secrets too
            present[0].secrets = list(dict.fromkeys(present[0].secrets + [s for s in secrets if s]))
        else:
            handler.addFilter(RedactSecrets(secrets))
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def build_application(dialogue: Dialogue, settings: Settings) -> Application:
    """An Application wired to the dialogue; nothing is started."""
    _redact_logs(settings)
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_token)
        .base_url(settings.telegram_api_base_url)
        .base_file_url(settings.telegram_api_file_url)
        .concurrent_updates(True)
        .rate_limiter(ChatPacer(overall=settings.rate_limit))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    if settings.telegram_proxy:
        builder = builder.proxy(settings.telegram_proxy).get_updates_proxy(settings.telegram_proxy)
    application = builder.build()
    application.bot_data["dialogue"] = dialogue
    application.bot_data["settings"] = settings
    application.add_handler(TypeHandler(Update, on_any_update), group=-1)
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_handler(PollAnswerHandler(on_poll_answer))
    application.add_handler(MessageHandler(filters.COMMAND, on_command))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    application.add_handler(MessageHandler(filters.Document.ALL, on_document))
    for message_filter, what in UNSUPPORTED:
        application.add_handler(MessageHandler(message_filter, _unsupported(what)))
    application.add_error_handler(on_error)
    return application


def resolve_webhook_secret(settings: Settings) -> Settings:
    """Settings whose webhook secret is checked, or generated when none is configured (webhook mode only).

    Raises :class:`bot.webhook.WebhookConfigError` (a message in Chinese) for a secret too short or with
    characters Telegram does not allow.
    """
    if not settings.webhook_url:
        return settings
    secret, generated = webhook_secret(settings.webhook_secret)
    if generated:
        log.warning("BOT_WEBHOOK_SECRET is empty: a random secret was generated and is registered with setWebhook")
    return replace(settings, webhook_secret=secret)


def run_bot(dialogue: Dialogue, settings: Settings) -> None:
    """Serve until interrupted: long polling, or a webhook (with a secret) when BOT_WEBHOOK_URL is set."""
    settings = resolve_webhook_secret(settings)
    application = build_application(dialogue, settings)
    if settings.webhook_url:
        log.info("webhook mode on %s:%s", settings.webhook_listen, settings.webhook_port)
        run_webhook(application, settings.webhook_url, settings.webhook_listen, settings.webhook_port,
                    settings.webhook_secret)
    else:
        log.info("long polling")
        application.run_polling(allowed_updates=Update.ALL_TYPES)
